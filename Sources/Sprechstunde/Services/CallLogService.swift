/// Participant sessions as the video service reports them, and `GET /api/v2/calllogs`.
public final class CallLogService: Sendable {
    let store: any Store
    let clock: Clock

    public init(store: any Store, clock: Clock = .system) {
        self.store = store
        self.clock = clock
    }

    /// A participant entered the room: a new log entry; the call is running from now on.
    public func join(callID: Call.ID, userID: User.ID, tan: String?) throws -> CallLog {
        guard let call = try store.call(id: callID) else { throw DomainError.notFound("Call \(callID)") }
        _ = try CallLifecycle.join(call.status)
        guard call.participant(userID) != nil else { throw DomainError.forbidden("Not a participant of this call.") }
        return try store.openLog(callID: callID, userID: userID, tan: tan, now: clock.now())
    }

    /// The participant left (or the socket closed), now or at `time` (a vanished page: when its
    /// socket was lost, not when the wait for it to come back ran out).
    public func leave(logID: CallLog.ID, at time: Int64? = nil) throws {
        try store.closeLog(id: logID, end: time ?? clock.now())
    }

    /// A heartbeat arrived.
    public func stillThere(logID: CallLog.ID) throws {
        try store.touchLog(id: logID, now: clock.now())
    }

    /// Closes entries whose participant vanished without a word, at their last-seen time.
    public func closeVanished(silentFor seconds: Int64) throws -> Int {
        let now = clock.now()
        return try store.closeStaleLogs(lastSeenBefore: now - seconds, now: now)
    }

    /// Ends every running call whose room has been empty for `grace` seconds (the contract's
    /// grace period, default 30 s). Returns the ids of the calls that ended.
    public func endIdleCalls(grace: Int64) throws -> [Call.ID] {
        let now = clock.now()
        return try store.endIdleCalls(emptySince: now - grace, now: now)
    }

    /// The room stayed empty for the grace period: a running call ends.
    public func roomStayedEmpty(callID: Call.ID) throws {
        guard let call = try store.call(id: callID) else { return }
        let next = CallLifecycle.roomStayedEmpty(call.status)
        if next != call.status { try store.setCallStatus(id: callID, status: next, now: clock.now()) }
    }

    /// The planned time is over and the call may not run longer: it ends now (final).
    public func endCall(callID: Call.ID) throws {
        guard let call = try store.call(id: callID), call.status != .ended else { return }
        try store.setCallStatus(id: callID, status: .ended, now: clock.now())
    }

    public func list(
        as principal: Principal, callID: Call.ID?, userID: User.ID?, from: Int64?, to: Int64?, page: PageRequest
    ) throws -> Page<CallLog> {
        let scope = try CallService.scope(of: principal)
        return try store.callLogs(
            CallLogQuery(
                companyID: scope.companyID, participantUserID: scope.participantUserID, callID: callID, userID: userID,
                from: from, to: to, page: page))
    }
}

/// Deletes call metadata after the retention period (German rules for certified video
/// consultations: at most three months).
public final class RetentionService: Sendable {
    public static let defaultRetentionDays = 90

    let store: any Store
    let clock: Clock
    public let retentionDays: Int

    public init(store: any Store, clock: Clock = .system, retentionDays: Int = RetentionService.defaultRetentionDays) {
        self.store = store
        self.clock = clock
        self.retentionDays = retentionDays
    }

    /// Returns the number of calls deleted with everything that belongs to them.
    public func purge() throws -> Int {
        try store.purgeCalls(endedBefore: clock.now() - Int64(retentionDays) * 86_400)
    }
}
