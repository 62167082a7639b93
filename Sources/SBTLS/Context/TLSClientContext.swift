import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// What a client session checks and presents (Redis over TLS, `rediss://`): one OpenSSL
/// `SSL_CTX` in client mode. Immutable once loaded and shared by every loop; a reload (SIGHUP)
/// builds a new one, and sessions already open keep the context they started with.
///
/// Policy: TLS 1.2 or newer; the server's certificate is always verified (there is no switch
/// to turn that off), against `caFile` or, without one, the system's CA store; security level 2;
/// no renegotiation, no compression. A client certificate is presented when the server asks
/// for one and `certificateFile` + `keyFile` are given.
public final class TLSClientContext: @unchecked Sendable {  // immutable after init
    let pointer: OpaquePointer
    /// The names the files were configured under (`REDIS_TLS_CA_FILE`), for messages.
    public let caFile: String?
    public let certificateFile: String?
    public let keyFile: String?

    /// Variable names for messages: `prefix` + `_CA_FILE`, `_CERT_FILE`, `_KEY_FILE`.
    public let variablePrefix: String

    /// Reads the PEM files. Throws with a message naming the variable, the path and what is
    /// wrong with it.
    public init(caFile: String?, certificateFile: String?, keyFile: String?, variablePrefix: String) throws(TLSLoadError) {
        let caName = variablePrefix + "_CA_FILE", certName = variablePrefix + "_CERT_FILE", keyName = variablePrefix + "_KEY_FILE"
        if (certificateFile == nil) != (keyFile == nil) {
            throw TLSLoadError("\(certName) and \(keyName) must be set together (a client certificate needs its key)")
        }
        if let caFile { try TLSContext.checkReadable(caFile, variable: caName) }
        if let certificateFile { try TLSContext.checkReadable(certificateFile, variable: certName) }
        if let keyFile { try TLSContext.checkReadable(keyFile, variable: keyName) }
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw TLSLoadError("TLS: cannot create an OpenSSL client context: \(OpenSSLErrorQueue.drain())")
        }
        do throws(TLSLoadError) {
            guard COpenSSL_CTX_set_protocol_range(ctx, TLS1_2_VERSION, 0) != 0 else {
                throw TLSLoadError("TLS: this OpenSSL lacks TLS 1.2: \(OpenSSLErrorQueue.drain())")
            }
            SSL_CTX_set_security_level(ctx, 2)
            COpenSSL_CTX_set_client_options(ctx)
            if let caFile {
                guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                    throw TLSLoadError("\(caName) \(caFile): no usable PEM CA certificate (\(OpenSSLErrorQueue.drain()))")
                }
            } else {
                guard SSL_CTX_set_default_verify_paths(ctx) == 1 else {
                    throw TLSLoadError("TLS: cannot load the system CA store (\(OpenSSLErrorQueue.drain())); set \(caName)")
                }
            }
            if let certificateFile, let keyFile {
                try CertificateFiles.load(into: ctx, certificateFile: certificateFile, keyFile: keyFile,
                                          certName: certName, keyName: keyName)
            }
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        pointer = ctx
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.variablePrefix = variablePrefix
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    /// "CA file /etc/redis/ca.pem, client certificate /etc/redis/client.pem", for logs.
    public var summary: String {
        let ca = caFile.map { "CA file \($0)" } ?? "system CA store"
        return certificateFile.map { "\(ca), client certificate \($0)" } ?? ca
    }
}
