/// A video call: planned by the API, held on the video pages.
public struct Call: Sendable, Equatable {
    public typealias ID = Int64

    public var id: ID
    public var companyID: Company.ID
    /// The account that created it (joins as `caller`).
    public var createdBy: User.ID?
    /// Planned start, Unix seconds.
    public var begin: Int64
    /// Planned length in minutes.
    public var duration: Int
    /// The signalling room name: random, not guessable.
    public var room: String
    public var status: CallStatus
    public var extid: String?
    public var description: String?
    public var extendable: Bool?
    public var startedAt: Int64?
    public var endedAt: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var deletedAt: Int64?
    /// In the order they were added: TAN users, callees, the caller.
    public var participants: [CallParticipant]
    /// Set when the call is a reserved time slot.
    public var appointment: Appointment?

    /// What makes a call an appointment: whose slot it is and the company's lead times at the
    /// moment it was reserved (the call's `settings.timings`).
    public struct Appointment: Sendable, Equatable {
        public var doctorID: User.ID
        /// Minutes before `begin` after which it cannot be reserved (or moved to).
        public var leadTimeCreate: Int
        /// Minutes before `begin` after which it cannot be moved or cancelled.
        public var leadTimeCancel: Int

        public init(doctorID: User.ID, leadTimeCreate: Int, leadTimeCancel: Int) {
            self.doctorID = doctorID
            self.leadTimeCreate = leadTimeCreate
            self.leadTimeCancel = leadTimeCancel
        }
    }

    public init(
        id: ID, companyID: Company.ID, createdBy: User.ID?, begin: Int64, duration: Int, room: String,
        status: CallStatus = .planned, extid: String? = nil, description: String? = nil, extendable: Bool? = nil,
        startedAt: Int64? = nil, endedAt: Int64? = nil, createdAt: Int64, updatedAt: Int64, deletedAt: Int64? = nil,
        participants: [CallParticipant] = [], appointment: Appointment? = nil
    ) {
        self.id = id
        self.companyID = companyID
        self.createdBy = createdBy
        self.begin = begin
        self.duration = duration
        self.room = room
        self.status = status
        self.extid = extid
        self.description = description
        self.extendable = extendable
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
        self.participants = participants
        self.appointment = appointment
    }

    /// The planned end: `begin + duration`.
    public var plannedEnd: Int64 { begin + Int64(duration) * 60 }

    public func participant(_ userID: User.ID) -> CallParticipant? {
        participants.first { $0.userID == userID }
    }
}

/// The contract's call status values.
public enum CallStatus: Int, Sendable, CaseIterable {
    case planned = 0
    case running = 1
    case ended = 2
}

/// How someone takes part in a call.
public enum ParticipantRole: String, Sendable, CaseIterable {
    /// The account that created the call.
    case caller
    /// An ak user added with `additional_callees[].user_id`.
    case callee
    /// A patient or relative invited by TAN.
    case tanuser
}

/// One participant of a call with what the wire format shows of them.
public struct CallParticipant: Sendable, Equatable {
    public var userID: User.ID
    public var role: ParticipantRole
    /// TAN users only.
    public var tan: String?
    public var tanValidUntil: Int64?

    /// Resolved by the store from the user.
    public var name: String = ""
    public var email: String?
    public var mobile: String?
    public var gender: String = "notset"
    public var accountRole: Role = .tanuser
    public var companyID: Company.ID?
    public var companyName: String?
    public var subsidiaryID: OrganisationUnit.ID?
    public var locationID: OrganisationUnit.ID?
    public var departmentID: OrganisationUnit.ID?
    public var departmentName: String?
    public var dataAgreed = false
    public var descriptionsAgreed = false
    /// The participant's latest call log entry, if they have joined.
    public var lastLogID: Int64?
    /// Whether the participant is in the call right now (an open log entry).
    public var isPresent = false

    public init(userID: User.ID, role: ParticipantRole, tan: String? = nil, tanValidUntil: Int64? = nil) {
        self.userID = userID
        self.role = role
        self.tan = tan
        self.tanValidUntil = tanValidUntil
    }
}
