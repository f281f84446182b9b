import Foundation
import Synchronization
import Testing

@testable import Sprechstunde
@testable import SprechstundeSQLite

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds: Atomic<Int64>

    init(_ start: Int64 = 1_700_000_000) { seconds = Atomic(start) }

    var now: Int64 { seconds.load(ordering: .relaxed) }
    func advance(_ delta: Int64) { seconds.add(delta, ordering: .relaxed) }
    var clock: Clock { Clock { [self] in self.now } }
}

/// Two companies with a few users each, on a fresh SQLite file, and the services over it.
///
///     company A: adminA, assistantA, doctorA, doctorA2
///     company B: adminB, doctorB
///     superadmin (no company)
final class World {
    static let password = "passwort-123"

    let directory: URL
    let store: SQLiteStore
    let clock = ManualClock()
    let users: UserService
    let companies: CompanyService
    let organisation: OrganisationService
    let auth: AuthService
    let provisioning: Provisioning
    let calls: CallService
    let callAccess: CallAccessService
    let callLogs: CallLogService
    let appointments: AppointmentService

    let companyA: Company
    let companyB: Company
    let superadmin: User
    let adminA: User
    let assistantA: User
    let doctorA: User
    let doctorA2: User
    let adminB: User
    let doctorB: User

    init(
        auth settings: AuthService.Settings = World.authSettings(),
        callAccess accessSettings: CallAccessService.Settings = CallAccessService.Settings()
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sprechstunde-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.appendingPathComponent("test.sqlite").path, readers: 2)
        users = UserService(store: store, clock: clock.clock, passwordCost: .minimal)
        companies = CompanyService(store: store, clock: clock.clock)
        organisation = OrganisationService(store: store, clock: clock.clock)
        auth = AuthService(store: store, clock: clock.clock, settings: settings)
        let provisioning = Provisioning(store: store, clock: clock.clock, passwordCost: .minimal)
        self.provisioning = provisioning
        calls = CallService(store: store, clock: clock.clock)
        callAccess = CallAccessService(store: store, clock: clock.clock, settings: accessSettings)
        callLogs = CallLogService(store: store, clock: clock.clock)
        appointments = AppointmentService(store: store, clock: clock.clock)

        companyA = try provisioning.createCompany(name: "Praxis A")
        companyB = try provisioning.createCompany(name: "Klinik B")
        let make = { (name: String, email: String, role: Role, company: Company?) throws -> User in
            try provisioning.createUser(
                name: name, email: email, password: World.password, role: role, companyID: company?.id)
        }
        superadmin = try make("Super Admin", "super@platform.example", .superadmin, nil)
        adminA = try make("Admin A", "admin@a.example", .admin, companyA)
        assistantA = try make("Assistenz A", "assistant@a.example", .assistant, companyA)
        doctorA = try make("Arzt5 Code-Beispiele", "doctor@a.example", .doc, companyA)
        doctorA2 = try make("Ärztin Zwei", "doctor2@a.example", .doc, companyA)
        adminB = try make("Admin B", "admin@b.example", .admin, companyB)
        doctorB = try make("Doktor B", "doctor@b.example", .doc, companyB)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    static func authSettings(
        failureLimit: Int = 10, addressLimit: Int = 50, window: Int64 = 900, lifetime: Int64 = 86_400
    ) -> AuthService.Settings {
        var settings = AuthService.Settings()
        settings.passwordCost = .minimal
        settings.failureLimit = failureLimit
        settings.addressFailureLimit = addressLimit
        settings.throttleWindow = window
        settings.tokenLifetime = lifetime
        return settings
    }

    func principal(_ user: User) -> Principal {
        .user(id: user.id, companyID: user.companyID, role: user.role)
    }

    /// Signs `user` in with the shared password and returns the token.
    func signIn(_ user: User, from address: String = "192.0.2.1") throws -> String {
        try auth.signIn(email: user.email!, password: World.password, from: address).value
    }

    func newUserInput(email: String, roles: [Int] = [2], companyID: Company.ID? = nil) -> UserInput {
        var input = UserInput()
        input.name = "Neue Person"
        input.email = email
        input.password = "neues-passwort"
        input.roles = roles
        input.companyID = companyID
        return input
    }
}

// MARK: calls

extension World {
    /// A call input with the required duration and, if given, a TAN user.
    func callInput(
        duration: Int64? = 30, begin: Int64? = nil, tanUsername: String? = nil, tanEmail: String? = nil,
        callees: [CalleeInput] = [], extid: String? = nil
    ) -> CallInput {
        var input = CallInput()
        input.duration = duration
        input.callType = "tan"
        input.begin = begin
        input.tanUsername = tanUsername
        input.tanEmail = tanEmail
        input.additionalCallees = callees
        input.extid = extid
        return input
    }

    /// Creates a call as `creator` (by default with a patient "Patientin Eins").
    @discardableResult
    func makeCall(
        by creator: User, duration: Int64 = 30, begin: Int64? = nil, tanUsername: String? = "Patientin Eins",
        tanEmail: String? = nil, callees: [CalleeInput] = [], extid: String? = nil
    ) throws -> Call {
        try calls.create(
            as: principal(creator),
            callInput(
                duration: duration, begin: begin, tanUsername: tanUsername, tanEmail: tanEmail, callees: callees,
                extid: extid))
    }

    /// The first TAN participant of `call`.
    func tanParticipant(_ call: Call) throws -> CallParticipant {
        try #require(call.participants.first { $0.role == .tanuser })
    }

    /// A single number from raw SQL on the store's writer (to see rows the API no longer shows).
    func count(_ sql: String) throws -> Int64 {
        try store.database.write { try $0.query(sql) }.first?.int(0) ?? -1
    }

    /// A machine client of `company` as a principal.
    func clientPrincipal(of company: Company) throws -> Principal {
        let (client, _) = try provisioning.createClient(companyID: company.id, name: "Integration")
        return .client(id: client.id, companyID: company.id)
    }
}

/// Runs `body`, expecting a `DomainError` of `kind`; returns it for more checks.
@discardableResult
func expectDomainError<T>(
    _ kind: DomainError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) -> DomainError? {
    do {
        let value = try body()
        Issue.record("expected \(kind), got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as DomainError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected DomainError \(kind), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Runs `body`, expecting a validation error that names `field`; returns the error.
@discardableResult
func expectValidation<T>(
    _ field: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) -> DomainError? {
    let error = expectDomainError(.validation, sourceLocation: sourceLocation, body)
    if let error {
        #expect(
            error.fieldErrors.contains { $0.0 == field }, "expected \(field) in \(error.fieldErrors.map(\.0))",
            sourceLocation: sourceLocation)
    }
    return error
}
