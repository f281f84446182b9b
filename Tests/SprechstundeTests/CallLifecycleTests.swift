import Testing

@testable import Sprechstunde

/// The expected outcome of one operation: a new status, success without a status, or a conflict.
private enum Outcome: Equatable, CustomStringConvertible {
    case becomes(CallStatus)
    case allowed
    case conflict

    var description: String {
        switch self {
        case .becomes(let status): return "becomes \(status)"
        case .allowed: return "allowed"
        case .conflict: return "conflict"
        }
    }
}

/// Runs a throwing lifecycle step and tells what happened; any error other than a conflict is a failure.
private func outcome(_ body: () throws(DomainError) -> CallStatus?) -> Outcome? {
    do {
        return try body().map(Outcome.becomes) ?? .allowed
    } catch {
        return error.kind == .conflict ? .conflict : nil
    }
}

/// The full table: every status against every operation, written out by hand.
@Suite("Call lifecycle")
struct CallLifecycleTests {
    @Test("the status values are the contract's 0, 1, 2 and nothing else")
    func statusValues() {
        #expect(CallStatus.allCases.map(\.rawValue) == [0, 1, 2])
        #expect(CallStatus(rawValue: 3) == nil)
        #expect(CallStatus.planned.rawValue == 0)
        #expect(CallStatus.running.rawValue == 1)
        #expect(CallStatus.ended.rawValue == 2)
    }

    @Test("join", arguments: CallStatus.allCases)
    func join(status: CallStatus) {
        let expected: Outcome
        switch status {
        case .planned: expected = .becomes(.running)
        case .running: expected = .becomes(.running)
        case .ended: expected = .conflict
        }
        #expect(outcome { () throws(DomainError) in try CallLifecycle.join(status) } == expected)
    }

    @Test("the room stayed empty", arguments: CallStatus.allCases)
    func roomStayedEmpty(status: CallStatus) {
        let expected: CallStatus
        switch status {
        case .planned: expected = .planned
        case .running: expected = .ended
        case .ended: expected = .ended
        }
        #expect(CallLifecycle.roomStayedEmpty(status) == expected)
    }

    @Test("delete", arguments: CallStatus.allCases, [false, true])
    func checkDelete(status: CallStatus, everJoined: Bool) {
        let expected: Outcome
        switch (status, everJoined) {
        case (.planned, false): expected = .allowed
        case (.planned, true): expected = .conflict
        case (.running, false): expected = .conflict
        case (.running, true): expected = .conflict
        case (.ended, false): expected = .conflict
        case (.ended, true): expected = .conflict
        }
        #expect(
            outcome { () throws(DomainError) in
                try CallLifecycle.checkDelete(status, everJoined: everJoined)
                return nil
            } == expected)
    }

    @Test("change", arguments: CallStatus.allCases, [false, true])
    func checkChange(status: CallStatus, movesBegin: Bool) {
        let expected: Outcome
        switch (status, movesBegin) {
        case (.planned, false): expected = .allowed
        case (.planned, true): expected = .allowed
        case (.running, false): expected = .allowed
        case (.running, true): expected = .conflict
        case (.ended, false): expected = .conflict
        case (.ended, true): expected = .conflict
        }
        #expect(
            outcome { () throws(DomainError) in
                try CallLifecycle.checkChange(status, movesBegin: movesBegin)
                return nil
            } == expected)
    }

    @Test("ended is final: no operation leads out of it")
    func endedIsFinal() {
        #expect(CallLifecycle.roomStayedEmpty(.ended) == .ended)
        #expect(throws: DomainError.self) { try CallLifecycle.join(.ended) }
    }

    @Test("a whole call: planned, entered, re-entered, empty, ended")
    func wholeLife() throws {
        var status = CallStatus.planned
        status = CallLifecycle.roomStayedEmpty(status)
        #expect(status == .planned)
        status = try CallLifecycle.join(status)
        #expect(status == .running)
        status = try CallLifecycle.join(status)
        #expect(status == .running)
        status = CallLifecycle.roomStayedEmpty(status)
        #expect(status == .ended)
        let error = #expect(throws: DomainError.self) { try CallLifecycle.join(status) }
        #expect(error?.kind == .conflict)
        #expect(error?.message.isEmpty == false)
    }
}
