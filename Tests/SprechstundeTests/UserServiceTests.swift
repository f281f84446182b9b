import Testing

@testable import Sprechstunde

@Suite("UserService on SQLite")
struct UserServiceTests {
    let world: World
    init() throws { world = try World() }

    private var all: PageRequest { PageRequest(page: 1, perPage: 10_000) }

    // MARK: tenant isolation

    @Test("an admin gets not found for another company's user, for every operation")
    func otherTenantIsNotFound() throws {
        let admin = world.principal(world.adminA)
        let foreign = world.doctorB.id
        expectDomainError(.notFound) { try world.users.get(as: admin, id: foreign) }
        var input = UserInput()
        input.title = "Dr."
        expectDomainError(.notFound) { try world.users.update(as: admin, id: foreign, input) }
        expectDomainError(.notFound) { try world.users.delete(as: admin, id: foreign) }
        // The same answer as for an id that does not exist at all.
        let missing = expectDomainError(.notFound) { try world.users.get(as: admin, id: 999_999) }
        let hidden = expectDomainError(.notFound) { try world.users.get(as: admin, id: foreign) }
        #expect(missing?.message.replacingOccurrences(of: "999999", with: "\(foreign)") == hidden?.message)
        // And B's user is unchanged and alive.
        #expect(try world.store.user(id: foreign)?.title == "")
    }

    @Test("an admin never sees another company's users in lists")
    func listIsScoped() throws {
        let page = try world.users.list(as: world.principal(world.adminA), search: nil, role: nil, page: all)
        #expect(
            Set(page.items.map(\.id)) == [world.adminA.id, world.assistantA.id, world.doctorA.id, world.doctorA2.id])
        #expect(page.total == 4)
        #expect(page.items.allSatisfy { $0.companyID == world.companyA.id })

        let search = try world.users.list(as: world.principal(world.adminA), search: "b.example", role: nil, page: all)
        #expect(search.items.isEmpty)
        #expect(search.total == 0)

        let admins = try world.users.list(as: world.principal(world.adminB), search: nil, role: .admin, page: all)
        #expect(admins.items.map(\.id) == [world.adminB.id])
    }

    @Test("a superadmin sees every company's users")
    func superadminSeesAll() throws {
        let page = try world.users.list(as: world.principal(world.superadmin), search: nil, role: nil, page: all)
        #expect(page.total == 7)
        #expect(try world.users.get(as: world.principal(world.superadmin), id: world.doctorB.id).id == world.doctorB.id)
    }

    @Test("an assistant reads the company's users")
    func assistantReads() throws {
        let page = try world.users.list(as: world.principal(world.assistantA), search: nil, role: nil, page: all)
        #expect(page.total == 4)
        #expect(
            try world.users.get(as: world.principal(world.assistantA), id: world.doctorA.id).name
                == "Arzt5 Code-Beispiele")
        expectDomainError(.notFound) {
            try world.users.get(as: world.principal(world.assistantA), id: world.doctorB.id)
        }
    }

    // MARK: doctors

    @Test("a doctor sees only the own user in the list")
    func doctorListsSelf() throws {
        let doctor = world.principal(world.doctorA)
        let page = try world.users.list(as: doctor, search: nil, role: nil, page: all)
        #expect(page.items.map(\.id) == [world.doctorA.id])
        #expect(page.total == 1)
        // Filters cannot widen it.
        #expect(try world.users.list(as: doctor, search: "a.example", role: .admin, page: all).total == 0)
        #expect(try world.users.get(as: doctor, id: world.doctorA.id).id == world.doctorA.id)
        expectDomainError(.notFound) { try world.users.get(as: doctor, id: world.doctorA2.id) }
        expectDomainError(.notFound) { try world.users.get(as: doctor, id: world.adminA.id) }
    }

    @Test("a doctor cannot create, delete or change other users")
    func doctorCannotManage() throws {
        let doctor = world.principal(world.doctorA)
        expectDomainError(.forbidden) { try world.users.create(as: doctor, world.newUserInput(email: "x@a.example")) }
        expectDomainError(.forbidden) { try world.users.delete(as: doctor, id: world.doctorA2.id) }
        #expect(try world.store.account(email: "x@a.example") == nil)
        // An assistant cannot create users either.
        expectDomainError(.forbidden) {
            try world.users.create(as: world.principal(world.assistantA), world.newUserInput(email: "y@a.example"))
        }
        // Updating another user of the company is forbidden for an assistant (who can see them).
        var input = UserInput()
        input.title = "Dr."
        expectDomainError(.forbidden) {
            try world.users.update(as: world.principal(world.assistantA), id: world.doctorA.id, input)
        }
    }

    @Test("a doctor may change the own profile but not admin-only fields")
    func doctorUpdatesSelf() throws {
        let doctor = world.principal(world.doctorA)
        var input = UserInput()
        input.title = "Dr. med."
        input.languages = ["de", "en"]
        let updated = try world.users.update(as: doctor, id: world.doctorA.id, input)
        #expect(updated.title == "Dr. med.")
        #expect(updated.languages == ["de", "en"])

        var promote = UserInput()
        promote.roles = [4]
        let error = expectDomainError(.forbidden) { try world.users.update(as: doctor, id: world.doctorA.id, promote) }
        #expect(error?.message.contains("roles") == true)
        #expect(try world.store.user(id: world.doctorA.id)?.roles == [.doc])
    }

    @Test("a machine client cannot use the user endpoints")
    func clientCannotReadUsers() throws {
        let client = Principal.client(id: 1, companyID: world.companyA.id)
        expectDomainError(.forbidden) { try world.users.list(as: client, search: nil, role: nil, page: all) }
        expectDomainError(.forbidden) { try world.users.get(as: client, id: world.doctorA.id) }
        expectDomainError(.forbidden) { try world.users.create(as: client, world.newUserInput(email: "c@a.example")) }
    }

    // MARK: create

    @Test("an admin creates a user in the own company, e-mail stored lower-case")
    func adminCreates() throws {
        let user = try world.users.create(
            as: world.principal(world.adminA), world.newUserInput(email: " New.Person@A.Example "))
        #expect(user.companyID == world.companyA.id)
        #expect(user.email == "new.person@a.example")
        #expect(user.roles == [.doc])
        #expect(user.createdAt == world.clock.now)
        #expect(user.firstname == "Neue")
        #expect(user.lastname == "Person")
        // The password works.
        #expect(throws: Never.self) {
            try world.auth.signIn(email: "new.person@a.example", password: "neues-passwort", from: "x")
        }
    }

    @Test("a duplicate e-mail, compared case-insensitively, is a validation error")
    func duplicateEmail() throws {
        let admin = world.principal(world.adminA)
        for email in ["doctor@a.example", "DOCTOR@A.EXAMPLE", "  Doctor@A.example "] {
            let error = expectDomainError(.validation) {
                try world.users.create(as: admin, world.newUserInput(email: email))
            }
            #expect(error?.fieldErrors.map(\.0) == ["email"], "\(email)")
        }
        // Also across companies: e-mail identifies an account platform-wide.
        let error = expectDomainError(.validation) {
            try world.users.create(as: world.principal(world.adminB), world.newUserInput(email: "Doctor@a.example"))
        }
        #expect(error?.fieldErrors.map(\.0) == ["email"])
        // Changing an e-mail to a taken one is refused the same way.
        var input = UserInput()
        input.email = "ADMIN@a.example"
        let update = expectDomainError(.validation) { try world.users.update(as: admin, id: world.doctorA.id, input) }
        #expect(update?.fieldErrors.map(\.0) == ["email"])
    }

    @Test("an admin cannot grant role 5 (or 1)")
    func cannotGrantSuperadmin() throws {
        let admin = world.principal(world.adminA)
        for roles in [[5], [2, 5], [1]] {
            let error = expectDomainError(.validation) {
                try world.users.create(
                    as: admin, world.newUserInput(email: "boss\(roles.count)\(roles[0])@a.example", roles: roles))
            }
            #expect(error?.fieldErrors.map(\.0) == ["roles"])
        }
        var input = UserInput()
        input.roles = [5]
        let error = expectDomainError(.validation) { try world.users.update(as: admin, id: world.doctorA.id, input) }
        #expect(error?.fieldErrors.map(\.0) == ["roles"])
        #expect(try world.store.user(id: world.doctorA.id)?.roles == [.doc])
    }

    @Test("an admin cannot create users in another company")
    func cannotCreateInOtherCompany() throws {
        let error = expectDomainError(.validation) {
            try world.users.create(
                as: world.principal(world.adminA),
                world.newUserInput(email: "z@b.example", companyID: world.companyB.id))
        }
        #expect(error?.fieldErrors.map(\.0) == ["company_id"])
        #expect(try world.store.account(email: "z@b.example") == nil)
        // Nor move one there.
        var input = UserInput()
        input.companyID = world.companyB.id
        let move = expectDomainError(.validation) {
            try world.users.update(as: world.principal(world.adminA), id: world.doctorA.id, input)
        }
        #expect(move?.fieldErrors.map(\.0) == ["company_id"])
    }

    @Test("an organisation unit of another company is refused on a user")
    func foreignUnitRefused() throws {
        let unitB = try world.store.insertUnit(
            kind: .subsidiary, companyID: world.companyB.id, name: "Filiale B", now: 1)
        let departmentB = try world.store.insertUnit(
            kind: .department, companyID: world.companyB.id, name: "Abteilung B", now: 1)
        let admin = world.principal(world.adminA)

        var input = world.newUserInput(email: "unit@a.example")
        input.subsidiaryID = .some(unitB.id)
        let create = expectDomainError(.validation) { try world.users.create(as: admin, input) }
        #expect(create?.fieldErrors.map(\.0) == ["ousubsidiary_id"])

        var update = UserInput()
        update.departmentID = .some(departmentB.id)
        let change = expectDomainError(.validation) { try world.users.update(as: admin, id: world.doctorA.id, update) }
        #expect(change?.fieldErrors.map(\.0) == ["department_id"])
        #expect(try world.store.user(id: world.doctorA.id)?.departmentID == nil)
    }

    @Test("a unit of the own company is accepted; one of the wrong kind is not")
    func ownUnit() throws {
        let subsidiary = try world.store.insertUnit(
            kind: .subsidiary, companyID: world.companyA.id, name: "Filiale A", now: 1)
        let location = try world.store.insertUnit(
            kind: .location, companyID: world.companyA.id, name: "Standort A", now: 1)
        let admin = world.principal(world.adminA)
        var input = world.newUserInput(email: "unit@a.example")
        input.subsidiaryID = .some(subsidiary.id)
        input.locationID = .some(location.id)
        let user = try world.users.create(as: admin, input)
        #expect(user.subsidiaryID == subsidiary.id)
        #expect(user.subsidiaryName == "Filiale A")
        #expect(user.locationName == "Standort A")

        var wrongKind = UserInput()
        wrongKind.departmentID = .some(location.id)
        let error = expectDomainError(.validation) { try world.users.update(as: admin, id: user.id, wrongKind) }
        #expect(error?.fieldErrors.map(\.0) == ["department_id"])

        var clear = UserInput()
        clear.subsidiaryID = .some(nil)
        let cleared = try world.users.update(as: admin, id: user.id, clear)
        #expect(cleared.subsidiaryID == nil)
        #expect(cleared.locationID == location.id)
    }

    @Test("notification options merge and come back sorted")
    func notificationOptions() throws {
        let admin = world.principal(world.adminA)
        var input = UserInput()
        input.notificationOptions = [
            NotificationOptionInput(notificationID: 3001, enabled: true),
            NotificationOptionInput(notificationID: 1001, enabled: true, values: ["Extra@Mail.example"]),
        ]
        _ = try world.users.update(as: admin, id: world.doctorA.id, input)
        input.notificationOptions = [NotificationOptionInput(notificationID: 3001, enabled: false)]
        let user = try world.users.update(as: admin, id: world.doctorA.id, input)
        #expect(
            user.notificationOptions == [
                NotificationOption(kind: .emailChannel, enabled: true, values: ["extra@mail.example"]),
                NotificationOption(kind: .documentReceived, enabled: false),
            ])
        input.notificationOptions = [NotificationOptionInput(notificationID: 7777, enabled: true)]
        let error = expectDomainError(.validation) { try world.users.update(as: admin, id: world.doctorA.id, input) }
        #expect(error?.fieldErrors.map(\.0) == ["notification_options.0.notification_id"])
    }

    @Test("validation failures list every field")
    func validationListsAll() throws {
        var input = UserInput()
        input.email = "broken"
        input.password = "kurz"
        let error = expectDomainError(.validation) { try world.users.create(as: world.principal(world.adminA), input) }
        // Required fields first, then format problems.
        #expect(error?.fieldErrors.map(\.0) == ["name", "roles", "email", "password"])
    }

    // MARK: delete

    @Test("an admin cannot delete the own account; deleting another hides it")
    func delete() throws {
        let admin = world.principal(world.adminA)
        expectDomainError(.conflict) { try world.users.delete(as: admin, id: world.adminA.id) }
        try world.users.delete(as: admin, id: world.doctorA2.id)
        expectDomainError(.notFound) { try world.users.get(as: admin, id: world.doctorA2.id) }
        expectDomainError(.notFound) { try world.users.delete(as: admin, id: world.doctorA2.id) }
        #expect(try world.users.list(as: admin, search: nil, role: nil, page: all).total == 3)
        // The e-mail is free again.
        #expect(throws: Never.self) {
            try world.users.create(as: admin, world.newUserInput(email: "doctor2@a.example"))
        }
    }

    @Test("only a superadmin touches a superadmin")
    func superadminProtected() throws {
        let second = try world.provisioning.createUser(
            name: "Super A", email: "super@a.example", password: World.password, role: .superadmin,
            companyID: world.companyA.id)
        let admin = world.principal(world.adminA)
        expectDomainError(.forbidden) { try world.users.delete(as: admin, id: second.id) }
        var input = UserInput()
        input.title = "x"
        expectDomainError(.forbidden) { try world.users.update(as: admin, id: second.id, input) }
        try world.users.delete(as: world.principal(world.superadmin), id: second.id)
        #expect(try world.store.user(id: second.id) == nil)
    }
}
