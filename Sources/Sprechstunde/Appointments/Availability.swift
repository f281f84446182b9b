/// One entry of a doctor's consultation hours: a weekly window ("Tuesdays 14:00–17:00 in
/// 15-minute slots"), a single date with its own window, or an exception that blocks time.
public struct Availability: Sendable, Equatable {
    public typealias ID = Int64

    public enum Kind: String, Sendable, CaseIterable {
        /// Offers slots of `slotLength` minutes from `start` to `end`.
        case available
        /// Blocks every slot that overlaps it (holidays, a lunch break, a day off).
        case unavailable
    }

    public var id: ID
    public var companyID: Company.ID
    /// The doctor whose hours these are.
    public var userID: User.ID
    public var kind: Kind
    /// ISO weekday (1 Monday ... 7 Sunday) of a weekly entry; nil for a single date.
    public var weekday: Int?
    /// The single date; nil for a weekly entry.
    public var date: LocalDate?
    public var start: LocalTime
    public var end: LocalTime
    /// Minutes per slot; nil for `unavailable`.
    public var slotLength: Int?
    /// First and last date a weekly entry applies (inclusive); nil: open-ended.
    public var validFrom: LocalDate?
    public var validUntil: LocalDate?
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        id: ID, companyID: Company.ID, userID: User.ID, kind: Kind, weekday: Int?, date: LocalDate?,
        start: LocalTime, end: LocalTime, slotLength: Int?, validFrom: LocalDate? = nil, validUntil: LocalDate? = nil,
        createdAt: Int64, updatedAt: Int64
    ) {
        self.id = id
        self.companyID = companyID
        self.userID = userID
        self.kind = kind
        self.weekday = weekday
        self.date = date
        self.start = start
        self.end = end
        self.slotLength = slotLength
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether the entry applies on `day`.
    public func applies(on day: LocalDate) -> Bool {
        if let date { return date == day }
        guard weekday == day.weekday else { return false }
        if let validFrom, day < validFrom { return false }
        if let validUntil, day > validUntil { return false }
        return true
    }
}

/// What a client sends to create or change an availability entry; nil fields are unset.
public struct AvailabilityInput: Sendable, Equatable {
    public var userID: Int64?
    public var kind: String?
    public var weekday: Int64??
    public var date: String??
    public var start: String?
    public var end: String?
    public var slotLength: Int64??
    public var validFrom: String??
    public var validUntil: String??

    public init() {}
}

/// A company's rules for appointments.
public struct AppointmentSettings: Sendable, Equatable {
    /// The practice's time zone: consultation hours are wall-clock times there.
    public var timeZone: String
    /// Minutes before `begin` after which an appointment can no longer be reserved.
    public var leadTimeCreate: Int
    /// Minutes before `begin` after which an appointment can no longer be moved or cancelled.
    public var leadTimeCancel: Int

    public init(timeZone: String = "Europe/Berlin", leadTimeCreate: Int = 0, leadTimeCancel: Int = 0) {
        self.timeZone = timeZone
        self.leadTimeCreate = leadTimeCreate
        self.leadTimeCancel = leadTimeCancel
    }
}

/// A free time slot of a doctor.
public struct TimeSlot: Sendable, Equatable, Hashable {
    public var userID: User.ID
    public var begin: Int64
    /// Minutes.
    public var duration: Int

    public init(userID: User.ID, begin: Int64, duration: Int) {
        self.userID = userID
        self.begin = begin
        self.duration = duration
    }

    public var end: Int64 { begin + Int64(duration) * 60 }
}
