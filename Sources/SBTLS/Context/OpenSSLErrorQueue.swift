import COpenSSL

/// The calling thread's OpenSSL error queue, read and emptied. OpenSSL reports why a call
/// failed there; `SSL_get_error` is only reliable when it was empty before the call.
enum OpenSSLErrorQueue {
    static func clear() {
        ERR_clear_error()
    }

    /// The reason strings of the queued errors ("no shared cipher", "key values mismatch"),
    /// oldest first, and the queue emptied. Reasons only: no key material or file content.
    static func drain() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            guard code != 0 else { break }
            if let text = ERR_reason_error_string(code) {
                let reason = String(cString: text)
                if !reasons.contains(reason) { reasons.append(reason) }
            } else {
                reasons.append("error \(String(code, radix: 16))")
            }
        }
        return reasons.isEmpty ? "unknown OpenSSL error" : reasons.joined(separator: "; ")
    }

    /// The first queued error's reason code within the SSL library, if it is one (the queue
    /// is left as it is).
    static func firstSSLReason() -> Int32? {
        let code = ERR_peek_error()
        guard code != 0, COpenSSL_error_is_ssl(code) != 0 else { return nil }
        return COpenSSL_error_reason(code)
    }
}
