/// Why a certificate and key could not be loaded: said once, clearly, at startup (then the
/// process exits non-zero) or on a SIGHUP reload (then the previous certificate stays).
public struct TLSLoadError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
