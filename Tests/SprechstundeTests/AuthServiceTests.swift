import Testing

@testable import Sprechstunde

@Suite("AuthService on SQLite")
struct AuthServiceTests {
    @Test("sign-in issues a token that authenticates as the user")
    func signIn() throws {
        let world = try World(auth: World.authSettings(lifetime: 3600))
        let issued = try world.auth.signIn(email: "doctor@a.example", password: World.password, from: "192.0.2.1")
        #expect(issued.value.count == 48)
        #expect(issued.expiresIn == 3600)
        #expect(issued.validUntil == world.clock.now + 3600)
        let principal = try world.auth.authenticate(token: issued.value)
        #expect(principal == .user(id: world.doctorA.id, companyID: world.companyA.id, role: .doc))
        // Two sign-ins give two different tokens.
        #expect(try world.signIn(world.doctorA) != issued.value)
    }

    @Test("the e-mail is matched case-insensitively and trimmed")
    func emailCase() throws {
        let world = try World()
        let token = try world.auth.signIn(email: "  DOCTOR@A.Example ", password: World.password, from: "x").value
        #expect(try world.auth.authenticate(token: token).userID == world.doctorA.id)
    }

    @Test("the password is case-sensitive")
    func passwordCase() throws {
        let world = try World()
        expectDomainError(.unauthenticated) {
            try world.auth.signIn(email: "doctor@a.example", password: World.password.uppercased(), from: "x")
        }
    }

    @Test("a wrong password and an unknown e-mail give the same error")
    func sameErrorForBoth() throws {
        let world = try World()
        let wrongPassword = expectDomainError(.unauthenticated) {
            try world.auth.signIn(email: "doctor@a.example", password: "falsch-falsch", from: "x")
        }
        let unknownEmail = expectDomainError(.unauthenticated) {
            try world.auth.signIn(email: "nobody@a.example", password: World.password, from: "x")
        }
        #expect(wrongPassword != nil)
        #expect(wrongPassword?.message == unknownEmail?.message)
        #expect(wrongPassword?.fieldErrors.isEmpty == true)
        #expect(unknownEmail?.fieldErrors.isEmpty == true)
        #expect(wrongPassword?.retryAfter == nil && unknownEmail?.retryAfter == nil)
    }

    @Test(
        "an unusable token is unauthenticated",
        arguments: [nil, "", "nonsense", String(repeating: "a", count: 257)] as [String?])
    func badTokens(_ token: String?) throws {
        let world = try World()
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
    }

    @Test("logout revokes the token at once; other sessions stay")
    func logout() throws {
        let world = try World()
        let first = try world.signIn(world.doctorA)
        let second = try world.signIn(world.doctorA)
        try world.auth.signOut(token: first)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: first) }
        #expect(try world.auth.authenticate(token: second).userID == world.doctorA.id)
        // Signing out twice, or with a made-up token, is harmless.
        #expect(throws: Never.self) { try world.auth.signOut(token: first) }
        #expect(throws: Never.self) { try world.auth.signOut(token: "made-up") }
    }

    @Test("a deleted user's token stops authenticating, and the user cannot sign in again")
    func deletedUser() throws {
        let world = try World()
        let token = try world.signIn(world.doctorA)
        #expect(try world.auth.authenticate(token: token).userID == world.doctorA.id)
        try world.users.delete(as: world.principal(world.adminA), id: world.doctorA.id)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
        expectDomainError(.unauthenticated) { try world.signIn(world.doctorA) }
    }

    @Test("locking a user ends the sessions and blocks sign-in; unlocking lets them sign in again")
    func lockedUser() throws {
        let world = try World()
        let token = try world.signIn(world.doctorA)
        var lock = UserInput()
        lock.isUnlocked = false
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA.id, lock)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
        expectDomainError(.unauthenticated) { try world.signIn(world.doctorA) }
        var unlock = UserInput()
        unlock.isUnlocked = true
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA.id, unlock)
        #expect(throws: Never.self) { try world.signIn(world.doctorA) }
        // The old token stays revoked.
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
    }

    @Test("locking, a new password, deleting the user or the company also end video sessions")
    func videoSessionsEndWithTheAccount() throws {
        let world = try World()
        let call = try world.makeCall(by: world.doctorA)
        let patient = try world.tanParticipant(call)
        func session(_ userID: User.ID) throws -> Int64 {
            try world.store.insertVideoSession(
                tokenHash: Crypto.sha256(Crypto.randomAlphanumeric(48)), callID: call.id, userID: userID, tan: nil,
                waitingArea: false, expiresAt: world.clock.now + 3600, now: world.clock.now
            ).id
        }
        func live(_ id: Int64) throws -> Bool { try world.store.videoSessionIsLive(id: id, now: world.clock.now) }
        let admin = world.principal(world.adminA)

        let locked = try session(world.doctorA.id)
        let bystander = try session(world.doctorA2.id)
        var lock = UserInput()
        lock.isUnlocked = false
        _ = try world.users.update(as: admin, id: world.doctorA.id, lock)
        #expect(try !live(locked))
        #expect(try live(bystander))

        var password = UserInput()
        password.password = "ein-neues-passwort-1"
        _ = try world.users.update(as: admin, id: world.doctorA2.id, password)
        #expect(try !live(bystander))

        let deleted = try session(world.assistantA.id)
        try world.users.delete(as: admin, id: world.assistantA.id)
        #expect(try !live(deleted))

        let patientSession = try session(patient.userID)
        let adminSession = try session(world.adminA.id)
        try world.companies.delete(as: world.principal(world.superadmin), id: world.companyA.id)
        #expect(try !live(patientSession))
        #expect(try !live(adminSession))
    }

    @Test("a password change ends the sessions; the new password works")
    func passwordChange() throws {
        let world = try World()
        let token = try world.signIn(world.doctorA)
        var input = UserInput()
        input.password = "ganz-neues-passwort"
        _ = try world.users.update(as: world.principal(world.doctorA), id: world.doctorA.id, input)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
        expectDomainError(.unauthenticated) { try world.signIn(world.doctorA) }
        #expect(throws: Never.self) {
            try world.auth.signIn(email: "doctor@a.example", password: "ganz-neues-passwort", from: "x")
        }
    }

    @Test("an expired token is rejected")
    func expiredToken() throws {
        let world = try World(auth: World.authSettings(lifetime: 3600))
        let token = try world.signIn(world.doctorA)
        world.clock.advance(3599)
        #expect(try world.auth.authenticate(token: token).userID == world.doctorA.id)
        world.clock.advance(1)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
        world.clock.advance(86_400)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
    }

    @Test("an account past its expires_at can neither sign in nor use its token")
    func expiredAccount() throws {
        let world = try World()
        let token = try world.signIn(world.doctorA)
        var input = UserInput()
        input.expiresAt = .some(world.clock.now + 60)
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA.id, input)
        #expect(try world.auth.authenticate(token: token).userID == world.doctorA.id)
        world.clock.advance(60)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: token) }
        expectDomainError(.unauthenticated) { try world.signIn(world.doctorA) }
    }

    @Test("after the failure limit an account is throttled with Retry-After, even with the right password")
    func throttledAccount() throws {
        let world = try World(auth: World.authSettings(failureLimit: 3, addressLimit: 100, window: 600))
        for attempt in 0..<3 {
            world.clock.advance(10)
            expectDomainError(.unauthenticated) {
                try world.auth.signIn(
                    email: "doctor@a.example", password: "falsch-\(attempt)", from: "198.51.100.\(attempt)")
            }
        }
        let throttled = expectDomainError(.throttled) {
            try world.auth.signIn(email: "doctor@a.example", password: World.password, from: "203.0.113.9")
        }
        // The first failure was 20 s ago: 580 s to go.
        #expect(throttled?.retryAfter == 580)
        #expect(throttled?.message.contains("580") == true)
        // Another account is not affected.
        #expect(throws: Never.self) { try world.signIn(world.doctorA2, from: "203.0.113.10") }
        // Once the window has passed, the right password works again.
        world.clock.advance(579)
        expectDomainError(.throttled) { try world.signIn(world.doctorA, from: "203.0.113.9") }
        world.clock.advance(1)
        #expect(throws: Never.self) { try world.signIn(world.doctorA, from: "203.0.113.9") }
    }

    @Test("failures from one address are throttled across accounts, with their own limit")
    func throttledAddress() throws {
        let world = try World(auth: World.authSettings(failureLimit: 2, addressLimit: 3, window: 600))
        for index in 0..<2 {
            expectDomainError(.unauthenticated) {
                try world.auth.signIn(email: "guess\(index)@a.example", password: "whatever1", from: "198.51.100.7")
            }
        }
        // Below the address limit, other accounts from that address still sign in.
        #expect(throws: Never.self) { try world.signIn(world.doctorA, from: "198.51.100.7") }
        expectDomainError(.unauthenticated) {
            try world.auth.signIn(email: "guess2@a.example", password: "whatever1", from: "198.51.100.7")
        }
        let throttled = expectDomainError(.throttled) { try world.signIn(world.doctorA, from: "198.51.100.7") }
        #expect(throttled?.retryAfter == 600)
        // The same account from another address is fine.
        #expect(throws: Never.self) { try world.signIn(world.doctorA, from: "198.51.100.8") }
    }

    @Test("a successful sign-in resets the account's failure count")
    func successResets() throws {
        let world = try World(auth: World.authSettings(failureLimit: 3, window: 600))
        for index in 0..<2 {
            expectDomainError(.unauthenticated) {
                try world.auth.signIn(email: "doctor@a.example", password: "falsch1234", from: "10.0.0.\(index)")
            }
        }
        _ = try world.signIn(world.doctorA, from: "10.0.1.1")
        for index in 0..<2 {
            expectDomainError(.unauthenticated) {
                try world.auth.signIn(email: "doctor@a.example", password: "falsch1234", from: "10.0.2.\(index)")
            }
        }
        #expect(throws: Never.self) { try world.signIn(world.doctorA, from: "10.0.3.1") }
    }

    @Test("machine clients sign in with client_id and secret")
    func clientSignIn() throws {
        let world = try World()
        let (client, secret) = try world.provisioning.createClient(companyID: world.companyA.id, name: "Praxissoftware")
        let token = try world.auth.clientSignIn(clientID: client.clientID, secret: secret, from: "x").value
        #expect(try world.auth.authenticate(token: token) == .client(id: client.id, companyID: world.companyA.id))
        let wrong = expectDomainError(.unauthenticated) {
            try world.auth.clientSignIn(clientID: client.clientID, secret: secret + "x", from: "x")
        }
        let unknown = expectDomainError(.unauthenticated) {
            try world.auth.clientSignIn(clientID: "client_nope", secret: secret, from: "x")
        }
        #expect(wrong?.message == unknown?.message)
        // A client's secret is not a user password and vice versa.
        expectDomainError(.unauthenticated) {
            try world.auth.signIn(email: client.clientID, password: secret, from: "x")
        }
    }
}

@Suite("CompanyService on SQLite")
struct CompanyServiceTests {
    let world: World
    init() throws { world = try World() }

    @Test("an admin lists only the own company")
    func adminList() throws {
        let page = try world.companies.list(as: world.principal(world.adminB), page: PageRequest())
        #expect(page.items.map(\.id) == [world.companyB.id])
        #expect(page.total == 1)
        let doctor = try world.companies.list(as: world.principal(world.doctorA), page: PageRequest())
        #expect(doctor.items.map(\.id) == [world.companyA.id])
    }

    @Test("a superadmin lists all companies")
    func superadminList() throws {
        let page = try world.companies.list(as: world.principal(world.superadmin), page: PageRequest())
        #expect(page.items.map(\.id) == [world.companyA.id, world.companyB.id])
    }

    @Test("another company is not found")
    func otherCompanyHidden() throws {
        let admin = world.principal(world.adminA)
        #expect(try world.companies.get(as: admin, id: world.companyA.id).name == "Praxis A")
        expectDomainError(.notFound) { try world.companies.get(as: admin, id: world.companyB.id) }
        expectDomainError(.notFound) { try world.companies.get(as: admin, id: 12345) }
    }

    @Test("only a superadmin manages companies")
    func manage() throws {
        expectDomainError(.forbidden) {
            try world.companies.create(as: world.principal(world.adminA), name: "Neu", extid: nil)
        }
        expectDomainError(.forbidden) {
            try world.companies.update(
                as: world.principal(world.adminA), id: world.companyA.id, name: "Neu", extid: nil)
        }
        expectDomainError(.forbidden) {
            try world.companies.delete(as: world.principal(world.adminA), id: world.companyB.id)
        }
        expectDomainError(.forbidden) {
            try world.companies.list(as: .client(id: 1, companyID: world.companyA.id), page: PageRequest())
        }

        let superadmin = world.principal(world.superadmin)
        let created = try world.companies.create(as: superadmin, name: "  Zentrum C  ", extid: .some("ext-c"))
        #expect(created.name == "Zentrum C")
        #expect(created.extid == "ext-c")
        let renamed = try world.companies.update(as: superadmin, id: created.id, name: "Zentrum C2", extid: .some(nil))
        #expect(renamed.name == "Zentrum C2")
        #expect(try world.store.company(id: created.id)?.extid == nil)

        let blank = expectDomainError(.validation) {
            try world.companies.create(as: superadmin, name: "   ", extid: nil)
        }
        #expect(blank?.fieldErrors.map(\.0) == ["name"])
        let missing = expectDomainError(.validation) {
            try world.companies.create(as: superadmin, name: nil, extid: nil)
        }
        #expect(missing?.fieldErrors.map(\.0) == ["name"])
    }

    @Test("deleting a company ends its users' sessions and hides them")
    func deleteCompany() throws {
        let tokenB = try world.signIn(world.doctorB)
        let tokenA = try world.signIn(world.doctorA)
        let superadmin = world.principal(world.superadmin)
        try world.companies.delete(as: superadmin, id: world.companyB.id)
        expectDomainError(.unauthenticated) { try world.auth.authenticate(token: tokenB) }
        #expect(try world.auth.authenticate(token: tokenA).userID == world.doctorA.id)
        expectDomainError(.notFound) { try world.companies.get(as: superadmin, id: world.companyB.id) }
        expectDomainError(.notFound) { try world.users.get(as: superadmin, id: world.doctorB.id) }
        #expect(try world.users.list(as: superadmin, search: nil, role: nil, page: PageRequest()).total == 5)
    }

    @Test("a superadmin cannot delete the own company")
    func deleteOwnCompany() throws {
        let boss = try world.provisioning.createUser(
            name: "Boss", email: "boss@a.example", password: World.password, role: .superadmin,
            companyID: world.companyA.id)
        expectDomainError(.conflict) { try world.companies.delete(as: world.principal(boss), id: world.companyA.id) }
        #expect(try world.store.company(id: world.companyA.id) != nil)
    }
}

@Suite("OrganisationService on SQLite")
struct OrganisationServiceTests {
    let world: World
    init() throws { world = try World() }

    @Test("units are scoped to the company", arguments: OrganisationUnit.Kind.allCases)
    func scoped(kind: OrganisationUnit.Kind) throws {
        let adminA = world.principal(world.adminA)
        let adminB = world.principal(world.adminB)
        let unit = try world.organisation.create(as: adminA, kind: kind, companyID: nil, name: "Einheit A")
        #expect(unit.companyID == world.companyA.id)
        #expect(unit.kind == kind)

        #expect(try world.organisation.list(as: adminA, kind: kind, page: PageRequest()).items.map(\.id) == [unit.id])
        #expect(try world.organisation.list(as: adminB, kind: kind, page: PageRequest()).total == 0)
        expectDomainError(.notFound) { try world.organisation.get(as: adminB, kind: kind, id: unit.id) }
        expectDomainError(.notFound) {
            try world.organisation.update(as: adminB, kind: kind, id: unit.id, name: "gekapert")
        }
        expectDomainError(.notFound) { try world.organisation.delete(as: adminB, kind: kind, id: unit.id) }
        #expect(try world.store.unit(kind: kind, id: unit.id)?.name == "Einheit A")
        // A doctor of A reads it.
        #expect(
            try world.organisation.get(as: world.principal(world.doctorA), kind: kind, id: unit.id).name == "Einheit A")
        // The superadmin sees it.
        #expect(
            try world.organisation.list(as: world.principal(world.superadmin), kind: kind, page: PageRequest()).total
                == 1)
    }

    @Test("a unit looked up as another kind is not found")
    func wrongKind() throws {
        let unit = try world.organisation.create(
            as: world.principal(world.adminA), kind: .location, companyID: nil, name: "Standort")
        expectDomainError(.notFound) {
            try world.organisation.get(as: world.principal(world.adminA), kind: .department, id: unit.id)
        }
    }

    @Test("only admins manage units, and only in their company")
    func manage() throws {
        let doctor = world.principal(world.doctorA)
        expectDomainError(.forbidden) {
            try world.organisation.create(as: doctor, kind: .subsidiary, companyID: nil, name: "x")
        }
        expectDomainError(.forbidden) {
            try world.organisation.create(
                as: world.principal(world.assistantA), kind: .department, companyID: nil, name: "x")
        }
        let foreign = expectDomainError(.validation) {
            try world.organisation.create(
                as: world.principal(world.adminA), kind: .subsidiary, companyID: world.companyB.id, name: "x")
        }
        #expect(foreign?.fieldErrors.map(\.0) == ["company_id"])
        #expect(try world.store.units(kind: .subsidiary, companyID: nil, page: PageRequest()).total == 0)

        // A superadmin has no company of its own and must name one.
        let none = expectDomainError(.validation) {
            try world.organisation.create(
                as: world.principal(world.superadmin), kind: .subsidiary, companyID: nil, name: "x")
        }
        #expect(none?.fieldErrors.map(\.0) == ["company_id"])
        let made = try world.organisation.create(
            as: world.principal(world.superadmin), kind: .subsidiary, companyID: world.companyB.id, name: "Filiale")
        #expect(made.companyID == world.companyB.id)
    }

    @Test("deleting a unit keeps its users, with the reference cleared")
    func deleteClearsUsers() throws {
        let admin = world.principal(world.adminA)
        let unit = try world.organisation.create(as: admin, kind: .department, companyID: nil, name: "Kardiologie")
        var input = UserInput()
        input.departmentID = .some(unit.id)
        #expect(try world.users.update(as: admin, id: world.doctorA.id, input).departmentName == "Kardiologie")
        try world.organisation.delete(as: admin, kind: .department, id: unit.id)
        let user = try world.users.get(as: admin, id: world.doctorA.id)
        #expect(user.departmentID == nil)
        #expect(user.departmentName == nil)
    }
}
