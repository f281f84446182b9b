/// A change to a future appointment, recorded in the durable outbox in the same transaction
/// as the change, for the notification service to deliver (ids as in `notification_options`).
public enum CallEventKind: Int, Sendable, CaseIterable {
    case appointmentCreated = 2001
    case appointmentChanged = 2002
    case appointmentDeleted = 2003
}

/// What the outbox keeps about the call at the moment of the change.
public struct CallEventPayload: Codable, Sendable, Equatable {
    public struct Participant: Codable, Sendable, Equatable {
        public var userID: Int64
        public var role: String
        public var name: String
        public var email: String?
        public var mobile: String?
    }

    public var kind: Int
    public var callID: Int64
    public var begin: Int64
    public var duration: Int
    public var participants: [Participant]

    public init(kind: CallEventKind, call: Call) {
        self.kind = kind.rawValue
        callID = call.id
        begin = call.begin
        duration = call.duration
        participants = call.participants.map {
            Participant(userID: $0.userID, role: $0.role.rawValue, name: $0.name, email: $0.email, mobile: $0.mobile)
        }
    }
}

/// One outbox row.
public struct OutboxEvent: Sendable, Equatable {
    public var id: Int64
    public var kind: CallEventKind
    public var callID: Call.ID
    public var companyID: Company.ID
    public var payload: CallEventPayload
    public var createdAt: Int64
    public var deliveredAt: Int64?

    public init(
        id: Int64, kind: CallEventKind, callID: Call.ID, companyID: Company.ID, payload: CallEventPayload,
        createdAt: Int64,
        deliveredAt: Int64?
    ) {
        self.id = id
        self.kind = kind
        self.callID = callID
        self.companyID = companyID
        self.payload = payload
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }
}
