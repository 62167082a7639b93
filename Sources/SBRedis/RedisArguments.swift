/// The arguments of one Redis command, already laid out as RESP bulk strings.
///
/// We encode the request ourselves, in the wire format `redisFormatCommandArgv` produces:
/// `RedisSocket` appends the `*N` header and these bytes straight to its output buffer, with no
/// argv array, length array or formatting copy in between. `RedisBlockingConnection` hands the
/// same bytes to hiredis (`withFormattedCommand`).
public struct RedisArguments: Sendable, Equatable {
    /// Number of arguments appended so far.
    public private(set) var count = 0
    /// The bulk strings, without the leading `*count\r\n` array header.
    public private(set) var body: [UInt8] = []

    public init() {}

    public init(_ arguments: [String]) {
        for argument in arguments { append(argument) }
    }

    public mutating func append(_ argument: String) {
        var argument = argument
        argument.withUTF8 { append(bytes: $0) }
    }

    public mutating func append(_ argument: [UInt8]) {
        argument.withUnsafeBufferPointer { append(bytes: $0) }
    }

    public mutating func append(_ argument: ArraySlice<UInt8>) {
        argument.withUnsafeBufferPointer { append(bytes: $0) }
    }

    public mutating func append(_ value: Int) {
        append(String(value))
    }

    public mutating func append(_ value: Int64) {
        append(String(value))
    }

    public mutating func append(contentsOf other: RedisArguments) {
        count += other.count
        body.append(contentsOf: other.body)
    }

    private mutating func append(bytes: UnsafeBufferPointer<UInt8>) {
        count += 1
        body.append(UInt8(ascii: "$"))
        Self.appendDecimal(bytes.count, to: &body)
        body.append(contentsOf: [13, 10])
        body.append(contentsOf: bytes)
        body.append(contentsOf: [13, 10])
    }

    /// The complete RESP request: `*N\r\n` followed by the bulk strings.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 13)
        out.append(UInt8(ascii: "*"))
        Self.appendDecimal(count, to: &out)
        out.append(contentsOf: [13, 10])
        out.append(contentsOf: body)
        return out
    }

    /// The request for hiredis's formatted-command calls (`redisAppendFormattedCommand`),
    /// NUL-terminated: 0.14.1's async variant scanned it with `strchr` and read past an
    /// unterminated buffer (AddressSanitizer caught it), so the terminator stays for any caller
    /// of that family. The NUL is not sent.
    func withFormattedCommand<R>(_ body: (_ command: UnsafePointer<CChar>, _ length: Int) -> R) -> R {
        var bytes = encoded
        bytes.append(0)
        return bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!, buffer.count - 1) }
        }
    }

    /// Decimal digits of a length; small Strings live inline, so this does not allocate.
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}

extension RedisArguments: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }
}
