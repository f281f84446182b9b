/// The call's life as a pure state machine: planned (0) → running (1, first join) → ended (2,
/// the room stayed empty for the grace period). Ended is final. What may change depends on
/// the state; the services ask here and the tests pin it down.
public enum CallLifecycle {
    /// Someone enters the room.
    public static func join(_ status: CallStatus) throws(DomainError) -> CallStatus {
        switch status {
        case .planned, .running: return .running
        case .ended: throw DomainError(.conflict, "The call has ended; it cannot be entered again.")
        }
    }

    /// The room has been empty for the grace period. Only a running call ends: a planned call
    /// nobody has entered yet stays planned.
    public static func roomStayedEmpty(_ status: CallStatus) -> CallStatus {
        status == .running ? .ended : status
    }

    /// A call can be deleted only while nobody has joined it.
    public static func checkDelete(_ status: CallStatus, everJoined: Bool) throws(DomainError) {
        guard status == .planned, !everJoined else { throw heldCallIsKept }
    }

    static let heldCallIsKept = DomainError(.conflict, "The call has already been held and cannot be deleted.")

    /// What an update may touch: a running call keeps its begin; an ended call is read-only.
    public static func checkChange(_ status: CallStatus, movesBegin: Bool) throws(DomainError) {
        switch status {
        case .planned: return
        case .running:
            if movesBegin { throw DomainError(.conflict, "The call is running; its begin cannot move.") }
        case .ended: throw DomainError(.conflict, "The call has ended and cannot be changed.")
        }
    }
}
