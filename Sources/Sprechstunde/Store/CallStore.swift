/// A participant to add when a call is created.
public enum NewParticipant: Sendable, Equatable {
    /// An existing account (the caller or an ak user callee).
    case account(User.ID, ParticipantRole)
    /// A new TAN user made for this call.
    case tanUser(name: String, email: String?, mobile: String?, dataAgreed: Bool, tan: String, validUntil: Int64)
}

/// Everything needed to insert a call in one transaction.
public struct NewCall: Sendable {
    public var companyID: Company.ID
    public var createdBy: User.ID?
    public var begin: Int64
    public var duration: Int
    public var room: String
    public var extid: String?
    public var description: String?
    public var extendable: Bool?
    public var participants: [NewParticipant]
    /// Set for a reserved time slot: the doctor whose slot it is.
    public var appointment: Call.Appointment?

    public init(
        companyID: Company.ID, createdBy: User.ID?, begin: Int64, duration: Int, room: String, extid: String?,
        description: String?, extendable: Bool?, participants: [NewParticipant], appointment: Call.Appointment? = nil
    ) {
        self.companyID = companyID
        self.createdBy = createdBy
        self.begin = begin
        self.duration = duration
        self.room = room
        self.extid = extid
        self.description = description
        self.extendable = extendable
        self.participants = participants
        self.appointment = appointment
    }
}

/// Filters for listing calls.
public struct CallQuery: Sendable {
    public var companyID: Company.ID?
    /// Only calls this user takes part in (a doctor's view).
    public var participantUserID: User.ID?
    public var status: CallStatus?
    public var beginFrom: Int64?
    public var beginTo: Int64?
    public var extid: String?
    public var page: PageRequest

    public init(
        companyID: Company.ID? = nil, participantUserID: User.ID? = nil, status: CallStatus? = nil,
        beginFrom: Int64? = nil, beginTo: Int64? = nil, extid: String? = nil, page: PageRequest = PageRequest()
    ) {
        self.companyID = companyID
        self.participantUserID = participantUserID
        self.status = status
        self.beginFrom = beginFrom
        self.beginTo = beginTo
        self.extid = extid
        self.page = page
    }
}

/// Where a TAN leads.
public struct TANHolder: Sendable, Equatable {
    public var callID: Call.ID
    public var userID: User.ID
    public var validUntil: Int64
    /// The TAN is right but its call was deleted (the page says so instead of "wrong TAN").
    public var callDeleted: Bool

    public init(callID: Call.ID, userID: User.ID, validUntil: Int64, callDeleted: Bool = false) {
        self.callID = callID
        self.userID = userID
        self.validUntil = validUntil
        self.callDeleted = callDeleted
    }
}

public protocol CallStore: Sendable {
    /// Inserts the call, its TAN users and participants, and (if given) an outbox event, in
    /// one transaction. Throws `UniqueViolation(field: "tan")` in the (astronomically rare)
    /// case of a TAN collision, so the caller can draw again.
    func insertCall(_ call: NewCall, event: CallEventKind?, now: Int64) throws -> Call
    /// Not deleted, with participants.
    func call(id: Call.ID) throws -> Call?
    /// Also a deleted one (`deletedAt` set), with participants: to tell its participants why
    /// they cannot enter.
    func callIncludingDeleted(id: Call.ID) throws -> Call?
    /// Newest first.
    func calls(_ query: CallQuery) throws -> Page<Call>
    /// Stores begin, duration, description, extid, extendable and moves the TANs' validity
    /// to `tanValidUntil`; records the event if given. Throws `SlotTaken` when an appointment
    /// would overlap another live call of its doctor (as `insertCall` does), and `.notFound` when
    /// the call was deleted meanwhile.
    func updateCall(_ call: Call, tanValidUntil: Int64, event: CallEventKind?, now: Int64) throws
    /// Soft delete of a call nobody has joined (checked in the same transaction); spends every
    /// one-time password of the call; records the event if given. False if someone had joined
    /// meanwhile (then nothing changed).
    @discardableResult
    func deleteCall(id: Call.ID, event: CallEventKind?, now: Int64) throws -> Bool
    /// Whether anybody ever joined the call.
    func callWasJoined(id: Call.ID) throws -> Bool
    /// The participant a TAN belongs to, also when the call was deleted.
    func tanHolder(tanHash: [UInt8]) throws -> TANHolder?
    /// Undelivered outbox events, oldest first.
    func pendingEvents(limit: Int) throws -> [OutboxEvent]
    func markEventDelivered(id: Int64, now: Int64) throws
}

public protocol OneTimePasswordStore: Sendable {
    func insertOneTimePassword(
        hash: [UInt8], userID: User.ID, callID: Call.ID, clientID: MachineClient.ID?, expiresAt: Int64, now: Int64)
        throws
    /// The (user, call) of an unspent, unexpired one-time password; does not spend it.
    func oneTimePassword(hash: [UInt8], now: Int64) throws -> (userID: User.ID, callID: Call.ID)?
    /// Spends it atomically: a second call for the same hash finds nothing.
    func spendOneTimePassword(hash: [UInt8], now: Int64) throws -> (userID: User.ID, callID: Call.ID)?
}

public protocol CallLogStore: Sendable {
    /// Opens a session entry and moves a planned call to running, in one transaction.
    func openLog(callID: Call.ID, userID: User.ID, tan: String?, now: Int64) throws -> CallLog
    /// Closes an open entry at `end`; closing a closed entry changes nothing.
    func closeLog(id: CallLog.ID, end: Int64) throws
    /// Records that the participant is still there (heartbeat).
    func touchLog(id: CallLog.ID, now: Int64) throws
    /// Closes entries not seen since `before` at their last-seen time (vanished peers, or a
    /// server that was killed). Returns how many.
    func closeStaleLogs(lastSeenBefore before: Int64, now: Int64) throws -> Int
    func callLog(id: CallLog.ID) throws -> CallLog?
    /// Oldest first.
    func callLogs(_ query: CallLogQuery) throws -> Page<CallLog>
    /// Ends running calls whose room has had nobody in it since `emptySince` (no open log
    /// entry, the last one closed before then) and that were held: an ak user of the call was
    /// in it, or its planned end lies before `emptySince`. Returns their ids.
    func endIdleCalls(emptySince: Int64, now: Int64) throws -> [Call.ID]
    /// Sets status (and started/ended times) of the call.
    func setCallStatus(id: Call.ID, status: CallStatus, now: Int64) throws
    /// Calls whose planned end and last activity are older than `before` are deleted with their
    /// logs, one-time passwords, outbox events and TAN users. Returns the number of calls.
    func purgeCalls(endedBefore before: Int64) throws -> Int
}
