/// What a bearer token stands for. The token itself is only ever stored as its SHA-256.
public enum TokenOwner: Sendable, Equatable {
    case user(User.ID)
    case client(MachineClient.ID)
}

/// A freshly issued bearer token: the only moment the plain value exists.
public struct IssuedToken: Sendable, Equatable {
    public let value: String
    public let expiresIn: Int64
    public let validUntil: Int64
}

/// What authenticating a request needs to know about a live token's owner, read in one
/// query (this is on every API request's path).
public struct TokenHolder: Sendable, Equatable {
    public var owner: TokenOwner
    public var companyID: Company.ID?
    /// The highest role of a user; nil for a machine client.
    public var role: Role?
    public var deletedAt: Int64?
    public var isUnlocked: Bool
    public var expiresAt: Int64?

    public init(
        owner: TokenOwner, companyID: Company.ID?, role: Role?, deletedAt: Int64? = nil, isUnlocked: Bool = true,
        expiresAt: Int64? = nil
    ) {
        self.owner = owner
        self.companyID = companyID
        self.role = role
        self.deletedAt = deletedAt
        self.isUnlocked = isUnlocked
        self.expiresAt = expiresAt
    }

    /// The caller, if the owner may still use the API at `now`.
    public func principal(at now: Int64) -> Principal? {
        guard deletedAt == nil, isUnlocked, expiresAt.map({ $0 > now }) ?? true else { return nil }
        switch owner {
        case .user(let id):
            guard let role, role >= .doc else { return nil }
            return .user(id: id, companyID: companyID, role: role)
        case .client(let id):
            guard let companyID else { return nil }
            return .client(id: id, companyID: companyID)
        }
    }
}
