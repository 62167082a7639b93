import XCTest
@testable import SBHub

/// `token_expiring` and the close at `exp`, as rows of (event at time) → actions.
final class TokenExpiryStateMachineTests: XCTestCase {
    typealias Machine = TokenExpiryStateMachine

    enum Event {
        case opened(Int64), timer(Int64), refreshed(exp: Int64, at: Int64)
    }

    func run(exp: Int64, notice: Int64, _ rows: [(Event, [Machine.Action])], file: StaticString = #filePath, line: UInt = #line) {
        var machine = Machine(expiresAtMillis: exp, noticeSeconds: notice)
        for (i, (event, expected)) in rows.enumerated() {
            let actions: [Machine.Action]
            switch event {
            case .opened(let now): actions = machine.opened(nowMillis: now)
            case .timer(let now): actions = machine.timerFired(nowMillis: now)
            case .refreshed(let exp, let now): actions = machine.refreshed(expiresAtMillis: exp, nowMillis: now)
            }
            XCTAssertEqual(actions, expected, "row \(i)", file: file, line: line)
        }
    }

    func testNoticeThenClose() {
        run(exp: 10_000, notice: 3, [
            (.opened(0), [.wake(atMillis: 7000)]),
            (.timer(6999), [.wake(atMillis: 7000)]),  // a timer a hair early re-arms
            (.timer(7000), [.sendExpiring(expiresAtMillis: 10_000), .wake(atMillis: 10_000)]),
            (.timer(9000), [.wake(atMillis: 10_000)]),  // notice only once
            (.timer(10_000), [.close]),
            (.timer(11_000), []),
            (.refreshed(exp: 99_000, at: 11_000), []),  // too late: closed
        ])
    }

    func testOpenedInsideTheNoticeWindowWarnsAtOnce() {
        run(exp: 10_000, notice: 60, [
            (.opened(1000), [.sendExpiring(expiresAtMillis: 10_000), .wake(atMillis: 10_000)]),
            (.timer(10_001), [.close]),
        ])
    }

    func testRefreshMovesExpiryAndOwesANewNotice() {
        run(exp: 10_000, notice: 3, [
            (.opened(0), [.wake(atMillis: 7000)]),
            (.timer(7000), [.sendExpiring(expiresAtMillis: 10_000), .wake(atMillis: 10_000)]),
            (.refreshed(exp: 20_000, at: 8000), [.wake(atMillis: 17_000)]),
            (.timer(10_000), [.wake(atMillis: 17_000)]),  // the old exp passes harmlessly
            (.timer(17_000), [.sendExpiring(expiresAtMillis: 20_000), .wake(atMillis: 20_000)]),
            (.timer(20_000), [.close]),
        ])
    }

    func testRefreshWithAnAlreadyPassedExpClosesAndZeroNotice() {
        run(exp: 10_000, notice: 0, [
            (.opened(0), [.wake(atMillis: 10_000)]),
            (.timer(10_000), [.close]),
        ])
        run(exp: 10_000, notice: 3, [
            (.opened(0), [.wake(atMillis: 7000)]),
            (.refreshed(exp: 4000, at: 5000), [.close]),
        ])
    }
}
