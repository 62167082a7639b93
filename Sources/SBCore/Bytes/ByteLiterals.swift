extension Array where Element == UInt8 {
    /// Appends a literal's bytes straight from the binary's read-only data: unlike a `static
    /// let` array, no lazy global is checked and nothing is retained (response writers on the
    /// request path).
    @inlinable @inline(__always)
    public mutating func append(literal: StaticString) {
        literal.withUTF8Buffer { append(contentsOf: $0) }
    }
}
