/// Storage behind protocols: the domain states what it needs, implementations (SQLite now,
/// PostgreSQL later) live in their own targets and pass one shared test suite.
///
/// Methods are synchronous: they run on the HTTP server's worker threads, and each one is a
/// single transaction.
public typealias Store = CompanyStore & OrganisationStore & UserStore & ClientStore & TokenStore & HealthCheck
    & CallStore & OneTimePasswordStore & CallLogStore & VideoSessionStore & NotificationStore & AppointmentStore

public protocol HealthCheck: Sendable {
    /// Throws if the database cannot answer a trivial query.
    func checkHealth() throws
}

/// Raised by stores when a uniqueness rule is broken; services turn it into a validation error.
public struct UniqueViolation: Error, Sendable {
    public let field: String
    public init(field: String) { self.field = field }
}

public protocol CompanyStore: Sendable {
    func insertCompany(name: String, extid: String?, now: Int64) throws -> Company
    /// Not deleted.
    func company(id: Company.ID) throws -> Company?
    /// `onlyID` narrows to one company (the caller's own). Oldest first.
    func companies(onlyID: Company.ID?, page: PageRequest) throws -> Page<Company>
    func updateCompany(_ company: Company) throws
    /// Soft delete; also ends the sessions of its users and revokes its clients.
    func deleteCompany(id: Company.ID, now: Int64) throws
}

public protocol OrganisationStore: Sendable {
    func insertUnit(kind: OrganisationUnit.Kind, companyID: Company.ID, name: String, now: Int64) throws
        -> OrganisationUnit
    func unit(kind: OrganisationUnit.Kind, id: OrganisationUnit.ID) throws -> OrganisationUnit?
    func units(kind: OrganisationUnit.Kind, companyID: Company.ID?, page: PageRequest) throws -> Page<OrganisationUnit>
    func updateUnit(_ unit: OrganisationUnit) throws
    /// Users pointing at the unit keep existing with the reference cleared.
    func deleteUnit(kind: OrganisationUnit.Kind, id: OrganisationUnit.ID) throws
}

/// Filters for listing users.
public struct UserQuery: Sendable {
    public var companyID: Company.ID?
    /// Case-insensitive substring of name or e-mail.
    public var search: String?
    public var role: Role?
    /// Narrow to one user (a doctor listing users sees only the own account).
    public var onlyUserID: User.ID?
    public var page: PageRequest

    public init(
        companyID: Company.ID? = nil, search: String? = nil, role: Role? = nil, onlyUserID: User.ID? = nil,
        page: PageRequest = PageRequest()
    ) {
        self.companyID = companyID
        self.search = search
        self.role = role
        self.onlyUserID = onlyUserID
        self.page = page
    }
}

public protocol UserStore: Sendable {
    /// Throws `UniqueViolation(field: "email")` if an account with that e-mail exists.
    func insertUser(_ user: User, passwordHash: String?) throws -> User
    /// Not deleted.
    func user(id: User.ID) throws -> User?
    /// An account (not a TAN user, not deleted) by lower-cased e-mail, with its password hash.
    func account(email: String) throws -> (User, passwordHash: String?)?
    /// Accounts only (never TAN users), oldest first.
    func users(_ query: UserQuery) throws -> Page<User>
    /// Replaces the stored fields, roles and notification options; a nil hash keeps the password.
    func updateUser(_ user: User, passwordHash: String?) throws
    /// Soft delete and revoke every token of the user, in one transaction.
    func deleteUser(id: User.ID, now: Int64) throws
}

public protocol ClientStore: Sendable {
    func insertClient(companyID: Company.ID, clientID: String, name: String, secretHash: String, now: Int64) throws
        -> MachineClient
    /// Not revoked, with its secret hash.
    func client(clientID: String) throws -> (MachineClient, secretHash: String)?
    func client(id: MachineClient.ID) throws -> MachineClient?
}

public protocol TokenStore: Sendable {
    func insertToken(hash: [UInt8], owner: TokenOwner, expiresAt: Int64, now: Int64) throws
    /// The owner of a live (not expired, not revoked) token.
    func tokenOwner(hash: [UInt8], now: Int64) throws -> TokenOwner?
    /// The owner of a live token with what authorisation needs, in one read.
    func tokenHolder(hash: [UInt8], now: Int64) throws -> TokenHolder?
    func revokeToken(hash: [UInt8], now: Int64) throws
    /// Removes tokens that expired before `before`.
    func purgeExpiredTokens(before: Int64) throws -> Int
}
