import Testing

@testable import Sprechstunde

/// The contract's "who may do what", written out in full so that a change to the matrix
/// shows up here as a deliberate edit.
private let expected: [Role: Set<Action>] = [
    .tanuser: [],
    .doc: [.readCompanies, .readOrganisation, .readUsers, .updateOwnProfile],
    .assistant: [.readCompanies, .readOrganisation, .readUsers, .updateOwnProfile],
    .admin: [
        .readCompanies, .readOrganisation, .readUsers, .updateOwnProfile, .manageOrganisation, .manageUsers,
        .manageNotifications,
    ],
    .superadmin: [
        .readCompanies, .readOrganisation, .readUsers, .updateOwnProfile, .manageOrganisation, .manageUsers,
        .manageCompanies, .manageNotifications,
    ],
]

private let expectedForClient: Set<Action> = [.createScopedToken]

@Suite("Policy")
struct PolicyTests {
    @Test("the matrix covers every role")
    func matrixIsComplete() {
        #expect(Set(expected.keys) == Set(Role.allCases))
        #expect(Action.allCases.count == 9)
    }

    @Test("user role × action", arguments: Role.allCases, Action.allCases)
    func userMatrix(role: Role, action: Action) throws {
        let principal = Principal.user(id: 1, companyID: role == .superadmin ? nil : 10, role: role)
        let allowed = try #require(expected[role]).contains(action)
        #expect(Policy.allows(principal, action) == allowed, "\(role.name) \(action)")
        if allowed {
            #expect(throws: Never.self) { try Policy.require(principal, action) }
        } else {
            let error = #expect(throws: DomainError.self) { try Policy.require(principal, action) }
            #expect(error?.kind == .forbidden)
            #expect(error?.message.isEmpty == false)
        }
    }

    @Test("a superadmin with a company has the same rights as one without")
    func superadminWithCompany() {
        for action in Action.allCases {
            #expect(
                Policy.allows(.user(id: 1, companyID: 3, role: .superadmin), action)
                    == Policy.allows(.user(id: 1, companyID: nil, role: .superadmin), action))
        }
    }

    @Test("machine client × action", arguments: Action.allCases)
    func clientMatrix(action: Action) {
        let principal = Principal.client(id: 9, companyID: 10)
        let allowed = expectedForClient.contains(action)
        #expect(Policy.allows(principal, action) == allowed, "client \(action)")
        if !allowed {
            let error = #expect(throws: DomainError.self) { try Policy.require(principal, action) }
            #expect(error?.kind == .forbidden)
        }
    }

    @Test("admins may grant doc, assistant and admin only")
    func grantableRoles() {
        #expect(Policy.grantableRoles == [.doc, .assistant, .admin])
    }
}

@Suite("Principal")
struct PrincipalTests {
    @Test("a user sees only the own company")
    func userScope() {
        let admin = Principal.user(id: 1, companyID: 10, role: .admin)
        #expect(admin.canSee(company: 10))
        #expect(!admin.canSee(company: 11))
        #expect(!admin.canSee(company: nil))
        let doctor = Principal.user(id: 2, companyID: 10, role: .doc)
        #expect(doctor.canSee(company: 10))
        #expect(!doctor.canSee(company: 11))
    }

    @Test("a user without a company sees nothing, not even objects without a company")
    func userWithoutCompany() {
        let orphan = Principal.user(id: 1, companyID: nil, role: .admin)
        #expect(!orphan.canSee(company: nil))
        #expect(!orphan.canSee(company: 1))
    }

    @Test("a superadmin sees every company")
    func superadminScope() {
        for principal in [
            Principal.user(id: 1, companyID: nil, role: .superadmin), .user(id: 1, companyID: 5, role: .superadmin),
        ] {
            #expect(principal.canSee(company: 5))
            #expect(principal.canSee(company: 6))
            #expect(principal.canSee(company: nil))
            #expect(principal.isSuperadmin)
        }
    }

    @Test("a machine client sees its own company only")
    func clientScope() {
        let client = Principal.client(id: 4, companyID: 20)
        #expect(client.canSee(company: 20))
        #expect(!client.canSee(company: 21))
        #expect(!client.canSee(company: nil))
        #expect(client.role == nil)
        #expect(client.userID == nil)
        #expect(client.companyID == 20)
        #expect(!client.isSuperadmin)
    }

    @Test("accessors")
    func accessors() {
        let user = Principal.user(id: 7, companyID: 3, role: .assistant)
        #expect(user.userID == 7)
        #expect(user.companyID == 3)
        #expect(user.role == .assistant)
        #expect(!user.isSuperadmin)
    }
}

@Suite("Role")
struct RoleTests {
    @Test("ids, names and order follow the contract")
    func roles() {
        #expect(Role.allCases.map(\.rawValue) == [1, 2, 3, 4, 5])
        #expect(Role.allCases.map(\.name) == ["tanuser", "doc", "assistant", "admin", "superadmin"])
        #expect(Role.doc < .assistant && Role.assistant < .admin && Role.admin < .superadmin && Role.tanuser < .doc)
    }

    @Test("a user's role is the highest held")
    func effectiveRole() {
        #expect(User(companyID: 1, name: "x", email: nil, roles: [.doc, .admin, .assistant]).role == .admin)
        #expect(User(companyID: 1, name: "x", email: nil, roles: [.doc]).role == .doc)
        #expect(User(companyID: 1, name: "x", email: nil, roles: []).role == .tanuser)
    }
}
