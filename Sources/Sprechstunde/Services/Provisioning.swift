/// Operator tasks run from the command line (and by `demo`): they bypass the API's
/// permission checks because whoever runs them already controls the server.
public final class Provisioning: Sendable {
    let store: any Store
    let clock: Clock
    let passwordCost: Crypto.PasswordCost

    public init(store: any Store, clock: Clock = .system, passwordCost: Crypto.PasswordCost = .interactive) {
        self.store = store
        self.clock = clock
        self.passwordCost = passwordCost
    }

    public func createCompany(name: String) throws -> Company {
        let name = try CompanyService.validName(name, required: true)!
        return try store.insertCompany(name: name, extid: nil, now: clock.now())
    }

    /// Any role, superadmin included; a superadmin may have no company.
    public func createUser(name: String, email: String, password: String, role: Role, companyID: Company.ID?) throws
        -> User
    {
        var input = UserInput()
        input.name = name
        input.email = email
        input.password = password
        var errors = ValidationErrors()
        UserRules.check(input, creating: false, into: &errors)
        if role == .tanuser { errors.add("role", "TAN users are created with a call.") }
        if role != .superadmin && companyID == nil { errors.add("company", "a company is required for this role.") }
        if let companyID, try store.company(id: companyID) == nil {
            errors.add("company", "company \(companyID) does not exist.")
        }
        try errors.check()
        let now = clock.now()
        let user = User(
            companyID: companyID, name: name.trimmingWhitespace, email: email.normalisedEmail, roles: [role],
            createdAt: now, updatedAt: now)
        do {
            return try store.insertUser(user, passwordHash: Crypto.hashPassword(password, cost: passwordCost))
        } catch is UniqueViolation {
            throw DomainError.invalid("email", "An account with this email exists already.")
        }
    }

    /// A machine client; the secret is returned once and only its hash is kept.
    public func createClient(companyID: Company.ID, name: String) throws -> (MachineClient, secret: String) {
        guard try store.company(id: companyID) != nil else { throw DomainError.notFound("Company \(companyID)") }
        let secret = Crypto.randomAlphanumeric(40)
        let client = try store.insertClient(
            companyID: companyID, clientID: "client_" + Crypto.randomAlphanumeric(20), name: name,
            secretHash: Crypto.hashPassword(secret, cost: passwordCost), now: clock.now())
        return (client, secret)
    }

    /// Replaces a user's password (for demo credentials and account recovery).
    public func setPassword(userID: User.ID, password: String) throws {
        guard let user = try store.user(id: userID) else { throw DomainError.notFound("User \(userID)") }
        try store.updateUser(user, passwordHash: Crypto.hashPassword(password, cost: passwordCost))
    }
}
