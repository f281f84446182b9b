/// One participant session: join → leave. A re-join is a new entry.
public struct CallLog: Sendable, Equatable {
    public typealias ID = Int64

    public var id: ID
    public var callID: Call.ID
    public var companyID: Company.ID
    public var userID: User.ID
    /// The TAN used to enter, for patients.
    public var tan: String?
    /// Joined.
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Left; nil while still in the call.
    public var end: Int64?
    public var deletedAt: Int64?

    public init(
        id: ID, callID: Call.ID, companyID: Company.ID, userID: User.ID, tan: String?, createdAt: Int64,
        updatedAt: Int64,
        end: Int64? = nil, deletedAt: Int64? = nil
    ) {
        self.id = id
        self.callID = callID
        self.companyID = companyID
        self.userID = userID
        self.tan = tan
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.end = end
        self.deletedAt = deletedAt
    }

    /// Whole seconds from joining to leaving (so far, while still in the call).
    public func duration(now: Int64) -> Int64 { max(0, (end ?? now) - createdAt) }
}

/// Filters for listing call logs.
public struct CallLogQuery: Sendable {
    public var companyID: Company.ID?
    /// Only logs of calls this user takes part in (a doctor's view).
    public var participantUserID: User.ID?
    public var callID: Call.ID?
    public var userID: User.ID?
    /// Joined at or after / before or at, Unix seconds.
    public var from: Int64?
    public var to: Int64?
    public var page: PageRequest

    public init(
        companyID: Company.ID? = nil, participantUserID: User.ID? = nil, callID: Call.ID? = nil, userID: User.ID? = nil,
        from: Int64? = nil, to: Int64? = nil, page: PageRequest = PageRequest()
    ) {
        self.companyID = companyID
        self.participantUserID = participantUserID
        self.callID = callID
        self.userID = userID
        self.from = from
        self.to = to
        self.page = page
    }
}
