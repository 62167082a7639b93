import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A certificate chain and key with the server's TLS policy, ready to start sessions: one
/// OpenSSL `SSL_CTX`. Immutable once loaded and shared by every loop (`SSL_new` on a
/// configured context is thread-safe). A reload builds a new one; each session holds a
/// reference on the context it started with, so replacing it drops no connection.
///
/// Policy: TLS 1.2 and 1.3 only; TLS 1.2 limited to forward-secret AEAD suites (ECDHE with
/// AES-GCM or ChaCha20-Poly1305: no RC4, 3DES, CBC, SHA-1 MACs, export or anonymous suites);
/// the server's order of preference; security level 2 (RSA/DH keys of 2048+ bits, no SHA-1
/// signatures); X25519, P-256 and P-384 key exchange; no renegotiation, no compression; ALPN `http/1.1`; resumption by stateless
/// tickets only (no server-side session cache to grow).
public final class TLSContext: @unchecked Sendable {  // immutable after init
    let pointer: OpaquePointer
    public let certificateFile: String
    public let keyFile: String
    /// Days until the leaf certificate expires (negative: expired), when it can be read.
    public let daysUntilExpiry: Int?

    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// Key exchange: elliptic curves only (no finite-field groups, whose smallest is 112-bit).
    static let groups = "X25519:P-256:P-384"

    /// Reads the PEM files. `certificateFile` holds the leaf first, then any intermediates.
    /// Throws with a message naming the variable, the path and what is wrong with it.
    public init(certificateFile: String, keyFile: String) throws(TLSLoadError) {
        try Self.checkReadable(certificateFile, variable: "TLS_CERT_FILE")
        try Self.checkReadable(keyFile, variable: "TLS_KEY_FILE")
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSLoadError("TLS: cannot create an OpenSSL context: \(OpenSSLErrorQueue.drain())")
        }
        do throws(TLSLoadError) {
            try Self.configure(ctx)
            try CertificateFiles.load(into: ctx, certificateFile: certificateFile, keyFile: keyFile,
                                      certName: "TLS_CERT_FILE", keyName: "TLS_KEY_FILE")
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        var ok: Int32 = 0
        let days = COpenSSL_CTX_days_left(ctx, &ok)
        pointer = ctx
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        daysUntilExpiry = ok != 0 ? Int(days) : nil
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    private static func configure(_ ctx: OpaquePointer) throws(TLSLoadError) {
        guard COpenSSL_CTX_set_protocol_range(ctx, TLS1_2_VERSION, TLS1_3_VERSION) != 0,
              SSL_CTX_set_cipher_list(ctx, tls12Ciphers) == 1,
              SSL_CTX_set_ciphersuites(ctx, tls13Suites) == 1,
              COpenSSL_CTX_set_groups(ctx, groups) == 1 else {
            throw TLSLoadError("TLS: this OpenSSL lacks TLS 1.2/1.3 or the AEAD suites: \(OpenSSLErrorQueue.drain())")
        }
        SSL_CTX_set_security_level(ctx, 2)
        COpenSSL_CTX_set_server_options(ctx)
        COpenSSL_CTX_set_modes(ctx)
        COpenSSL_CTX_select_http11(ctx)
    }

    /// A clear "cannot open" before OpenSSL's terser "system library" error.
    static func checkReadable(_ path: String, variable: String) throws(TLSLoadError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw TLSLoadError("\(variable) \(path): cannot open: \(String(cString: strerror(code)))")
        }
        close(fd)
    }
}
