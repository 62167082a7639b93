import COpenSSL

/// A PEM certificate chain and its unencrypted key, loaded into an `SSL_CTX` with errors that
/// name the settings they came from: one loader for the server's pair (TLS_CERT_FILE /
/// TLS_KEY_FILE) and the Redis client's (REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE).
enum CertificateFiles {
    static func load(into ctx: OpaquePointer, certificateFile: String, keyFile: String,
                     certName: String, keyName: String) throws(TLSLoadError) {
        guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
            throw TLSLoadError("\(certName) \(certificateFile): no usable PEM certificate (\(OpenSSLErrorQueue.drain()))")
        }
        COpenSSL_CTX_refuse_passphrase(ctx)
        let mismatch = TLSLoadError("\(keyName) \(keyFile) does not match the certificate in \(certName) \(certificateFile)")
        guard SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1 else {
            let reason = OpenSSLErrorQueue.drain()
            if reason.contains("mismatch") { throw mismatch }
            throw TLSLoadError("\(keyName) \(keyFile): no usable unencrypted PEM private key (\(reason))")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            OpenSSLErrorQueue.clear()
            throw mismatch
        }
    }
}
