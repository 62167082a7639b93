import SBCore
import SBTLS

/// TLS handshakes and certificate reloads since start, for `/metrics`. Shared by the loops;
/// a handshake costs far more than this lock.
final class TLSStats: Sendable {
    private let handshakes = Locked<[String: Int]>([:])
    private let reloads = Locked<(ok: Int, failed: Int)>((0, 0))

    /// The `result` label values: `ok` and every failure reason (a closed set).
    static let handshakeResults = ["ok"] + TLSHandshakeFailure.allCases.map(\.rawValue)

    func handshakeSucceeded() {
        handshakes.withLock { $0["ok", default: 0] += 1 }
    }

    func handshakeFailed(_ reason: TLSHandshakeFailure) {
        handshakes.withLock { $0[reason.rawValue, default: 0] += 1 }
    }

    func reloaded(ok: Bool) {
        reloads.withLock { if ok { $0.ok += 1 } else { $0.failed += 1 } }
    }

    var handshakeCounts: [(result: String, count: Int)] {
        let counts = handshakes.withLock { $0 }
        return Self.handshakeResults.map { ($0, counts[$0] ?? 0) }
    }

    var reloadCounts: (ok: Int, failed: Int) {
        reloads.withLock { $0 }
    }
}
