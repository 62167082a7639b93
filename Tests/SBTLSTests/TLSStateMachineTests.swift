import SBEventLoop
import XCTest
@testable import SBTLS

/// The TLS lifecycle without a socket or OpenSSL: every state against every event, as tables.
final class TLSStateMachineTests: XCTestCase {
    typealias Machine = TLSStateMachine
    static let s: UInt64 = 1_000_000_000
    static let timeout = 10 * s

    static func make(_ name: String) -> Machine {
        var m = Machine(now: 0, handshakeTimeout: timeout)
        switch name {
        case "handshakingRead": break
        case "handshakingWrite": _ = m.handshakeStepped(.wantWrite)
        case "open": _ = m.handshakeStepped(.done)
        case "openReadWaitsForWritable": _ = m.handshakeStepped(.done); _ = m.readStepped(.wantWrite)
        case "outputClosed": _ = m.handshakeStepped(.done); _ = m.outputEnding()
        case "closed": _ = m.handshakeStepped(.failed(.cipher))
        default: fatalError(name)
        }
        return m
    }

    // MARK: Handshake

    func testAClientSessionFirstWaitsToSendItsHello() {
        let client = Machine(now: 5, handshakeTimeout: Self.timeout, client: true)
        XCTAssertEqual(client.state, .handshaking(deadline: 5 + Self.timeout, waitingFor: .writable))
        XCTAssertEqual(client.interest(connection: .readable), .writable)
        let server = Machine(now: 5, handshakeTimeout: Self.timeout)
        XCTAssertEqual(server.interest(connection: .readable), .readable)
    }

    func testHandshakeSteps() {
        let rows: [(from: String, outcome: Machine.Outcome, action: Machine.HandshakeAction, state: Machine.State)] = [
            ("handshakingRead", .wantRead, .wait, .handshaking(deadline: Self.timeout, waitingFor: .readable)),
            ("handshakingRead", .wantWrite, .wait, .handshaking(deadline: Self.timeout, waitingFor: .writable)),
            ("handshakingWrite", .wantRead, .wait, .handshaking(deadline: Self.timeout, waitingFor: .readable)),
            ("handshakingRead", .done, .established, .open(readWaitsForWritable: false)),
            ("handshakingWrite", .done, .established, .open(readWaitsForWritable: false)),
            ("handshakingRead", .peerClosed, .fail(.closed), .closed),
            ("handshakingRead", .failed(.version), .fail(.version), .closed),
            ("handshakingWrite", .failed(.plainHTTP), .fail(.plainHTTP), .closed),
            ("handshakingRead", .failed(.peerAlert), .fail(.peerAlert), .closed),
            // Not handshaking any more: nothing to do, nothing counted twice.
            ("open", .wantRead, .established, .open(readWaitsForWritable: false)),
            ("outputClosed", .done, .established, .outputClosed),
            ("closed", .done, .wait, .closed),
            ("closed", .failed(.cipher), .wait, .closed),
        ]
        for row in rows {
            var m = Self.make(row.from)
            XCTAssertEqual(m.handshakeStepped(row.outcome), row.action, "\(row.from) + \(row.outcome)")
            XCTAssertEqual(m.state, row.state, "\(row.from) + \(row.outcome)")
        }
    }

    func testHandshakeDeadline() {
        let rows: [(from: String, now: UInt64, action: Machine.HandshakeAction?, state: Machine.State)] = [
            ("handshakingRead", Self.timeout - 1, nil, .handshaking(deadline: Self.timeout, waitingFor: .readable)),
            ("handshakingRead", Self.timeout, .fail(.timeout), .closed),
            ("handshakingWrite", Self.timeout + Self.s, .fail(.timeout), .closed),
            // An established session has no deadline, however long it lives.
            ("open", 1000 * Self.s, nil, .open(readWaitsForWritable: false)),
            ("outputClosed", 1000 * Self.s, nil, .outputClosed),
            ("closed", 1000 * Self.s, nil, .closed),
        ]
        for row in rows {
            var m = Self.make(row.from)
            XCTAssertEqual(m.timerFired(now: row.now), row.action, "\(row.from) at \(row.now)")
            XCTAssertEqual(m.state, row.state, "\(row.from) at \(row.now)")
        }
    }

    func testProgressDoesNotMoveTheDeadline() {
        var m = Machine(now: 5 * Self.s, handshakeTimeout: Self.timeout)
        XCTAssertEqual(m.handshakeStepped(.wantWrite), .wait)
        XCTAssertEqual(m.handshakeStepped(.wantRead), .wait)
        XCTAssertNil(m.timerFired(now: 15 * Self.s - 1))
        XCTAssertEqual(m.timerFired(now: 15 * Self.s), .fail(.timeout))
    }

    // MARK: Interest and readiness

    func testInterest() {
        let rows: [(state: String, connection: IOEvents, expected: IOEvents)] = [
            // Handshaking: only what OpenSSL waits for, whatever the connection would like.
            ("handshakingRead", [.readable, .writable], .readable),
            ("handshakingRead", [], .readable),
            ("handshakingWrite", .readable, .writable),
            // Open: the connection decides…
            ("open", .readable, .readable),
            ("open", [], []),
            ("open", [.readable, .writable], [.readable, .writable]),
            // …plus writability while a read waits for it, even with reading paused.
            ("openReadWaitsForWritable", .readable, [.readable, .writable]),
            ("openReadWaitsForWritable", [], .writable),
            ("outputClosed", .readable, .readable),
            ("closed", .readable, .readable),
        ]
        for row in rows {
            XCTAssertEqual(Self.make(row.state).interest(connection: row.connection), row.expected, row.state)
        }
    }

    func testReadiness() {
        XCTAssertEqual(Self.make("openReadWaitsForWritable").readiness(.writable), [.writable, .readable])
        XCTAssertEqual(Self.make("openReadWaitsForWritable").readiness(.hangup), .hangup)
        XCTAssertEqual(Self.make("open").readiness(.writable), .writable)
        XCTAssertEqual(Self.make("handshakingWrite").readiness(.writable), .writable)
    }

    // MARK: Application data

    func testReads() {
        let rows: [(from: String, outcome: Machine.Outcome, verdict: Machine.ReadVerdict, state: Machine.State)] = [
            ("open", .done, .data, .open(readWaitsForWritable: false)),
            ("open", .wantRead, .wait, .open(readWaitsForWritable: false)),
            ("open", .wantWrite, .wait, .open(readWaitsForWritable: true)),
            ("openReadWaitsForWritable", .done, .data, .open(readWaitsForWritable: false)),
            ("openReadWaitsForWritable", .wantRead, .wait, .open(readWaitsForWritable: false)),
            ("open", .peerClosed, .endOfInput, .open(readWaitsForWritable: false)),
            ("open", .failed(.protocolError), .fail, .closed),
            // After our close_notify input is still read, to its end.
            ("outputClosed", .done, .data, .outputClosed),
            ("outputClosed", .wantWrite, .wait, .outputClosed),
            ("outputClosed", .peerClosed, .endOfInput, .outputClosed),
            ("outputClosed", .failed(.protocolError), .fail, .closed),
            // No application data before the handshake or after a failure.
            ("handshakingRead", .done, .fail, .handshaking(deadline: Self.timeout, waitingFor: .readable)),
            ("closed", .done, .fail, .closed),
        ]
        for row in rows {
            var m = Self.make(row.from)
            XCTAssertEqual(m.readStepped(row.outcome), row.verdict, "\(row.from) + \(row.outcome)")
            XCTAssertEqual(m.state, row.state, "\(row.from) + \(row.outcome)")
        }
    }

    func testWrites() {
        let rows: [(from: String, outcome: Machine.Outcome, verdict: Machine.WriteVerdict, state: Machine.State)] = [
            ("open", .done, .wrote, .open(readWaitsForWritable: false)),
            ("open", .wantWrite, .wait, .open(readWaitsForWritable: false)),
            ("openReadWaitsForWritable", .done, .wrote, .open(readWaitsForWritable: true)),
            // A write waiting for input means renegotiation, which is off: fail, never spin.
            ("open", .wantRead, .fail, .closed),
            ("open", .peerClosed, .fail, .closed),
            ("open", .failed(.protocolError), .fail, .closed),
            // Nothing is written after close_notify, before the handshake or after a failure.
            ("outputClosed", .done, .fail, .closed),
            ("handshakingRead", .done, .fail, .closed),
            ("closed", .done, .fail, .closed),
        ]
        for row in rows {
            var m = Self.make(row.from)
            XCTAssertEqual(m.writeStepped(row.outcome), row.verdict, "\(row.from) + \(row.outcome)")
            XCTAssertEqual(m.state, row.state, "\(row.from) + \(row.outcome)")
        }
    }

    // MARK: Ending

    func testEnding() {
        let rows: [(from: String, outputEnding: Bool, then: Machine.State, closing: Bool)] = [
            ("open", true, .outputClosed, false),  // close_notify once: not again at close
            ("openReadWaitsForWritable", true, .outputClosed, false),
            ("outputClosed", false, .outputClosed, false),
            ("handshakingRead", false, .handshaking(deadline: Self.timeout, waitingFor: .readable), false),
            ("closed", false, .closed, false),
        ]
        for row in rows {
            var m = Self.make(row.from)
            XCTAssertEqual(m.outputEnding(), row.outputEnding, row.from)
            XCTAssertEqual(m.state, row.then, row.from)
            XCTAssertEqual(m.closing(), row.closing, row.from)
            XCTAssertEqual(m.state, .closed, row.from)
        }
        // Closing an open session without an earlier close_notify sends one.
        var open = Self.make("open")
        XCTAssertTrue(open.closing())
        XCTAssertFalse(open.closing())
    }

    func testEstablished() {
        let rows: [(String, Bool)] = [("handshakingRead", false), ("handshakingWrite", false), ("open", true),
                                      ("openReadWaitsForWritable", true), ("outputClosed", true), ("closed", false)]
        for (name, expected) in rows {
            XCTAssertEqual(Self.make(name).isEstablished, expected, name)
        }
    }

    /// The failure labels are a closed set of valid Prometheus label values.
    func testFailureLabels() {
        let labels = TLSHandshakeFailure.allCases.map(\.rawValue)
        XCTAssertEqual(Set(labels).count, labels.count)
        for label in labels {
            XCTAssertTrue(label.allSatisfy { $0.isLowercase || $0 == "_" }, label)
        }
    }
}
