/// Users of the User API, scoped to the caller's company.
public final class UserService: Sendable {
    let store: any Store
    let clock: Clock
    let passwordCost: Crypto.PasswordCost

    public init(store: any Store, clock: Clock = .system, passwordCost: Crypto.PasswordCost = .interactive) {
        self.store = store
        self.clock = clock
        self.passwordCost = passwordCost
    }

    public func list(as principal: Principal, search: String?, role: Role?, page: PageRequest) throws -> Page<User> {
        try Policy.require(principal, .readUsers)
        var query = UserQuery(search: search, role: role, page: page)
        if !principal.isSuperadmin { query.companyID = principal.companyID ?? -1 }
        if principal.role == .doc { query.onlyUserID = principal.userID }
        return try store.users(query)
    }

    public func get(as principal: Principal, id: User.ID) throws -> User {
        try Policy.require(principal, .readUsers)
        return try visibleUser(id, to: principal)
    }

    /// A user the caller may read, or not found (also for other tenants' users).
    func visibleUser(_ id: User.ID, to principal: Principal) throws -> User {
        guard let user = try store.user(id: id), user.role != .tanuser, principal.canSee(company: user.companyID) else {
            throw DomainError.notFound("User \(id)")
        }
        if principal.role == .doc && user.id != principal.userID { throw DomainError.notFound("User \(id)") }
        return user
    }

    public func create(as principal: Principal, _ input: UserInput) throws -> User {
        try Policy.require(principal, .manageUsers)
        var errors = ValidationErrors()
        UserRules.check(input, creating: true, into: &errors)
        let companyID = input.companyID ?? principal.companyID
        if companyID == nil {
            errors.add("company_id", "company_id is required.")
        } else if let companyID, try !companyIsVisible(companyID, to: principal) {
            errors.add("company_id", "company_id \(companyID) is not a company you can add users to.")
        }
        if let companyID {
            try checkUnits(input, companyID: companyID, into: &errors)
        }
        try errors.check()

        let now = clock.now()
        var user = User(
            companyID: companyID, name: input.name!.trimmingWhitespace, email: input.email!.normalisedEmail, roles: [])
        apply(input, to: &user)
        user.createdAt = now
        user.updatedAt = now
        let hash = Crypto.hashPassword(input.password!, cost: passwordCost)
        do {
            return try store.insertUser(user, passwordHash: hash)
        } catch let violation as UniqueViolation {
            throw DomainError.invalid(violation.field, "An account with this \(violation.field) exists already.")
        }
    }

    public func update(as principal: Principal, id: User.ID, _ input: UserInput) throws -> User {
        var user = try visibleUser(id, to: principal)
        let isSelf = principal.userID == id
        if !Policy.allows(principal, .manageUsers) {
            guard isSelf else { throw DomainError.forbidden(Policy.message(for: .manageUsers)) }
            try Policy.require(principal, .updateOwnProfile)
            let adminOnly = input.adminOnlyFields
            if !adminOnly.isEmpty {
                throw DomainError.forbidden("Only an admin can change \(adminOnly.joined(separator: ", ")).")
            }
        }
        if user.role == .superadmin && !principal.isSuperadmin {
            throw DomainError.forbidden("Only a superadmin can change a superadmin.")
        }
        var errors = ValidationErrors()
        UserRules.check(input, creating: false, into: &errors)
        if let companyID = input.companyID, companyID != user.companyID {
            if !principal.isSuperadmin {
                errors.add("company_id", "users cannot move to another company; only a superadmin can do that.")
            } else if try store.company(id: companyID) == nil {
                errors.add("company_id", "company_id \(companyID) does not exist.")
            }
        }
        if let companyID = input.companyID ?? user.companyID {
            try checkUnits(input, companyID: companyID, into: &errors)
        }
        try errors.check()

        if let companyID = input.companyID, companyID != user.companyID {
            // Units belong to the old company.
            user.subsidiaryID = nil
            user.locationID = nil
            user.departmentID = nil
            user.companyID = companyID
        }
        if let name = input.name { user.name = name.trimmingWhitespace }
        if let email = input.email { user.email = email.normalisedEmail }
        apply(input, to: &user)
        user.updatedAt = clock.now()
        let hash = input.password.map { Crypto.hashPassword($0, cost: passwordCost) }
        do {
            try store.updateUser(user, passwordHash: hash)
        } catch let violation as UniqueViolation {
            throw DomainError.invalid(violation.field, "An account with this \(violation.field) exists already.")
        }
        return try store.user(id: id) ?? user
    }

    public func delete(as principal: Principal, id: User.ID) throws {
        try Policy.require(principal, .manageUsers)
        let user = try visibleUser(id, to: principal)
        if user.id == principal.userID {
            throw DomainError(.conflict, "You cannot delete your own account; ask another admin.")
        }
        if user.role == .superadmin && !principal.isSuperadmin {
            throw DomainError.forbidden("Only a superadmin can delete a superadmin.")
        }
        try store.deleteUser(id: id, now: clock.now())
    }

    private func apply(_ input: UserInput, to user: inout User) {
        if let roles = input.roles { user.roles = Array(Set(roles.compactMap(Role.init(rawValue:)))).sorted() }
        if let options = input.notificationOptions {
            var merged = user.notificationOptions
            for option in options {
                guard let kind = NotificationOption.Kind(rawValue: option.notificationID) else { continue }
                let values = kind == .emailChannel ? option.values.map(\.normalisedEmail) : option.values
                merged.removeAll { $0.kind == kind }
                merged.append(NotificationOption(kind: kind, enabled: option.enabled, values: values))
            }
            user.notificationOptions = merged.sorted { $0.kind.rawValue < $1.kind.rawValue }
        }
        if let title = input.title { user.title = title }
        if let gender = input.gender { user.gender = gender }
        if let mobile = input.mobile { user.mobile = mobile }
        if let languages = input.languages { user.languages = languages }
        if let extid = input.extid { user.extid = extid }
        if let description = input.description { user.description = description }
        if let id = input.subsidiaryID { user.subsidiaryID = id }
        if let id = input.locationID { user.locationID = id }
        if let id = input.departmentID { user.departmentID = id }
        if let expiresAt = input.expiresAt { user.expiresAt = expiresAt }
        if let isUnlocked = input.isUnlocked { user.isUnlocked = isUnlocked }
    }

    private func companyIsVisible(_ id: Company.ID, to principal: Principal) throws -> Bool {
        try principal.canSee(company: id) && store.company(id: id) != nil
    }

    /// Organisation units must exist, be of the right kind and belong to the user's company.
    private func checkUnits(_ input: UserInput, companyID: Company.ID, into errors: inout ValidationErrors) throws {
        let given: [(OrganisationUnit.Kind, OrganisationUnit.ID??)] = [
            (.subsidiary, input.subsidiaryID), (.location, input.locationID), (.department, input.departmentID),
        ]
        for case (let kind, .some(.some(let id))) in given {
            let unit = try store.unit(kind: kind, id: id)
            if unit?.companyID != companyID {
                errors.add("\(kind.rawValue)_id", "\(kind.displayName) \(id) does not exist in this company.")
            }
        }
    }
}

extension String {
    /// E-mail addresses are unique case-insensitively and stored lower-case.
    var normalisedEmail: String { trimmingWhitespace.lowercased() }
}
