import Foundation
import Sprechstunde
import Synchronization
import Testing

@testable import SprechstundeSQLite

/// Runs one SQL query on the store's writer connection and gives the first column of the first row.
private func scalar(_ store: SQLiteStore, _ sql: String) throws -> Int64? {
    try store.database.write { try $0.query(sql) }.first?.int(0)
}

private func person(
    _ email: String?, company: Company.ID?, name: String, role: Role = .doc, department: OrganisationUnit.ID? = nil
) -> User {
    User(
        companyID: company, name: name, email: email, departmentID: department, roles: [role], createdAt: 1,
        updatedAt: 1)
}

/// Starts `threads` threads that wait for each other and then run `body` at the same moment
/// (more threads than cores, so the scheduler interleaves them); returns when all are done.
private func runTogether(threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let ready = DispatchGroup()
    let done = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for index in 0..<threads {
        ready.enter()
        done.enter()
        Thread {
            ready.leave()
            start.wait()
            body(index)
            done.leave()
        }.start()
    }
    ready.wait()
    for _ in 0..<threads { start.signal() }
    done.wait()
}

@Suite("SQLite calls")
struct CallStoreTests {
    let temporary: TemporaryDatabase
    let store: SQLiteStore
    let company: Company
    let doctor: User
    let colleague: User

    init() throws {
        temporary = try TemporaryDatabase()
        store = try temporary.open()
        company = try store.insertCompany(name: "Praxis", extid: nil, now: 1)
        let department = try store.insertUnit(kind: .department, companyID: company.id, name: "Kardiologie", now: 1)
        doctor = try store.insertUser(
            person("doc@example.org", company: company.id, name: "Dr. Eins", department: department.id),
            passwordHash: "h")
        colleague = try store.insertUser(
            person("kollegin@example.org", company: company.id, name: "Dr. Zwei", role: .assistant), passwordHash: "h")
    }

    private func newCall(
        begin: Int64 = 5_000, duration: Int = 30, participants: [NewParticipant]? = nil, extid: String? = nil
    ) -> NewCall {
        NewCall(
            companyID: company.id, createdBy: doctor.id, begin: begin, duration: duration,
            room: Crypto.randomAlphanumeric(30), extid: extid, description: nil, extendable: nil,
            participants: participants ?? [.account(doctor.id, .caller)])
    }

    private func patient(_ name: String = "Patientin", tan: String = TAN.generate(), until: Int64 = 9_999)
        -> NewParticipant
    {
        .tanUser(name: name, email: nil, mobile: nil, dataAgreed: false, tan: tan, validUntil: until)
    }

    // MARK: calls

    @Test("a call round-trips with its participants in order")
    func roundTrip() throws {
        let tan = "AbCd-EfGh-1234"
        let draft = NewCall(
            companyID: company.id, createdBy: doctor.id, begin: 5_000, duration: 45, room: "raum-1234567890abcdefghij",
            extid: "termin-1", description: "Erstgespräch\nZeile 2", extendable: true,
            participants: [
                .tanUser(
                    name: "Patientin", email: "p@example.org", mobile: "+49 170 1234567", dataAgreed: true, tan: tan,
                    validUntil: 9_999),
                .account(colleague.id, .callee),
                .account(doctor.id, .caller),
            ])
        let call = try store.insertCall(draft, event: nil, now: 100)
        #expect(call.id > 0)
        #expect(call.companyID == company.id)
        #expect(call.createdBy == doctor.id)
        #expect(call.begin == 5_000)
        #expect(call.duration == 45)
        #expect(call.plannedEnd == 5_000 + 45 * 60)
        #expect(call.room == "raum-1234567890abcdefghij")
        #expect(call.status == .planned)
        #expect(call.extid == "termin-1")
        #expect(call.description == "Erstgespräch\nZeile 2")
        #expect(call.extendable == true)
        #expect(call.startedAt == nil)
        #expect(call.endedAt == nil)
        #expect(call.createdAt == 100)
        #expect(call.updatedAt == 100)
        #expect(call.deletedAt == nil)
        #expect(call.participants.map(\.role) == [.tanuser, .callee, .caller])
        #expect(call.participants.map(\.userID).suffix(2) == [colleague.id, doctor.id])

        let patient = call.participants[0]
        #expect(patient.tan == tan)
        #expect(patient.tanValidUntil == 9_999)
        #expect(patient.name == "Patientin")
        #expect(patient.email == "p@example.org")
        #expect(patient.mobile == "+49 170 1234567")
        #expect(patient.accountRole == .tanuser)
        #expect(patient.companyID == nil)
        #expect(patient.dataAgreed)
        #expect(patient.lastLogID == nil)
        #expect(!patient.isPresent)

        let caller = call.participants[2]
        #expect(caller.tan == nil)
        #expect(caller.tanValidUntil == nil)
        #expect(caller.name == "Dr. Eins")
        #expect(caller.email == "doc@example.org")
        #expect(caller.accountRole == .doc)
        #expect(caller.companyID == company.id)
        #expect(caller.companyName == "Praxis")
        #expect(caller.departmentID == doctor.departmentID)
        #expect(caller.departmentName == "Kardiologie")
        #expect(call.participants[1].accountRole == .assistant)

        #expect(try store.call(id: call.id) == call)
        // The TAN user is a row of its own: no company, role 1, not an account.
        #expect(try scalar(store, "SELECT is_tan_user FROM users WHERE id = \(patient.userID)") == 1)
        #expect(
            try scalar(store, "SELECT count(*) FROM users WHERE id = \(patient.userID) AND company_id IS NULL") == 1)
        #expect(try scalar(store, "SELECT role_id FROM user_roles WHERE user_id = \(patient.userID)") == 1)
        #expect(try store.account(email: "p@example.org") == nil)
        // Found by the TAN's hash.
        #expect(
            try store.tanHolder(tanHash: TAN.hash(tan))
                == TANHolder(callID: call.id, userID: patient.userID, validUntil: 9_999))
        #expect(try store.tanHolder(tanHash: TAN.hash("abcd-efgh-1234")) == nil)
        #expect(try store.callWasJoined(id: call.id) == false)
        // No event asked for, none recorded.
        #expect(try store.pendingEvents(limit: 10).isEmpty)
    }

    @Test("an absent extendable stays absent; unknown ids give nil")
    func optionals() throws {
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        #expect(try store.call(id: call.id)?.extendable == nil)
        #expect(try store.call(id: call.id)?.extid == nil)
        #expect(try store.call(id: call.id)?.description == nil)
        #expect(try store.call(id: 999_999) == nil)
    }

    @Test("every call of a page carries exactly its own participants")
    func participantsOfPages() throws {
        var doctors = [doctor, colleague]
        doctors.append(
            try store.insertUser(person("drei@example.org", company: company.id, name: "Dr. Drei"), passwordHash: "h"))
        var expected: [Call.ID: [String]] = [:]
        for index in 0..<40 {
            let tanUsers = (0..<(index % 4)).map { patient("P\(index)-\($0)") }
            let caller = doctors[index % 3]
            let call = try store.insertCall(
                newCall(participants: tanUsers + [.account(caller.id, .caller)]), event: nil, now: 100)
            expected[call.id] = (0..<(index % 4)).map { "P\(index)-\($0)" } + [caller.name]
        }
        let ids = expected.keys.sorted()

        let everything = try store.calls(CallQuery(companyID: company.id, page: PageRequest(page: 1, perPage: 100)))
        #expect(everything.total == 40)
        #expect(everything.items.map(\.id) == ids.reversed())
        for call in everything.items {
            #expect(call.participants.map(\.name) == expected[call.id], "call \(call.id)")
        }

        let page = try store.calls(CallQuery(companyID: company.id, page: PageRequest(page: 2, perPage: 15)))
        #expect(page.items.map(\.id) == Array(ids.reversed()[15..<30]))
        for call in page.items { #expect(call.participants.map(\.name) == expected[call.id], "call \(call.id)") }

        // A doctor's view: only calls with that participant, still with every participant of each.
        let third = try store.calls(
            CallQuery(companyID: company.id, participantUserID: doctors[2].id, page: PageRequest(perPage: 100)))
        #expect(third.total == 13)
        #expect(third.items.allSatisfy { $0.participant(doctors[2].id)?.role == .caller })
        for call in third.items { #expect(call.participants.map(\.name) == expected[call.id]) }
        // Another company sees none.
        let other = try store.insertCompany(name: "Andere", extid: nil, now: 1)
        #expect(try store.calls(CallQuery(companyID: other.id)).total == 0)
    }

    @Test("a TAN is unique: a duplicate fails the whole insert")
    func duplicateTAN() throws {
        let tan = "Dupl-ikat-0001"
        let first = try store.insertCall(
            newCall(participants: [patient(tan: tan), .account(doctor.id, .caller)]), event: nil, now: 100)
        let users = try scalar(store, "SELECT count(*) FROM users")
        let error = #expect(throws: UniqueViolation.self) {
            try store.insertCall(
                newCall(participants: [patient("Zweite"), patient("Dritte", tan: tan), .account(doctor.id, .caller)]),
                event: .appointmentCreated, now: 200)
        }
        #expect(error?.field == "tan")
        // Nothing of the second call is left: no call, no TAN users, no participants, no event.
        #expect(try scalar(store, "SELECT count(*) FROM calls") == 1)
        #expect(try scalar(store, "SELECT count(*) FROM users") == users)
        #expect(try scalar(store, "SELECT count(*) FROM call_participants") == 2)
        #expect(try scalar(store, "SELECT count(*) FROM outbox_events") == 0)
        #expect(try store.tanHolder(tanHash: TAN.hash(tan))?.callID == first.id)
        // The same TAN twice within one call fails as well.
        #expect(throws: UniqueViolation.self) {
            try store.insertCall(
                newCall(participants: [patient(tan: "Zwei-mal0-0002"), patient(tan: "Zwei-mal0-0002")]), event: nil,
                now: 300)
        }
        #expect(try scalar(store, "SELECT count(*) FROM calls") == 1)
    }

    @Test("update stores the fields and moves only the TANs' validity; delete hides the call")
    func updateAndDelete() throws {
        let tan = TAN.generate()
        var call = try store.insertCall(
            newCall(participants: [patient(tan: tan, until: 1_000), .account(doctor.id, .caller)]), event: nil,
            now: 100)
        call.begin = 7_000
        call.duration = 60
        call.description = "neu"
        call.extid = "x-9"
        call.extendable = false
        try store.updateCall(call, tanValidUntil: 2_000, event: .appointmentChanged, now: 150)
        let stored = try #require(try store.call(id: call.id))
        #expect(stored.begin == 7_000)
        #expect(stored.duration == 60)
        #expect(stored.description == "neu")
        #expect(stored.extid == "x-9")
        #expect(stored.extendable == false)
        #expect(stored.updatedAt == 150)
        #expect(stored.createdAt == 100)
        #expect(stored.participants.map(\.tanValidUntil) == [2_000, nil])
        #expect(try store.tanHolder(tanHash: TAN.hash(tan))?.validUntil == 2_000)
        let events = try store.pendingEvents(limit: 10)
        #expect(events.map(\.kind) == [.appointmentChanged])
        #expect(events.first?.payload.begin == 7_000)
        #expect(events.first?.payload.duration == 60)

        try store.insertOneTimePassword(
            hash: Crypto.sha256("otp"), userID: doctor.id, callID: call.id, clientID: nil, expiresAt: 500, now: 160)
        try store.deleteCall(id: call.id, event: .appointmentDeleted, now: 170)
        #expect(try store.call(id: call.id) == nil)
        #expect(try store.calls(CallQuery(companyID: company.id)).total == 0)
        #expect(try store.tanHolder(tanHash: TAN.hash(tan))?.callDeleted == true)
        #expect(try store.oneTimePassword(hash: Crypto.sha256("otp"), now: 165) == nil)
        #expect(try scalar(store, "SELECT deleted_at FROM calls WHERE id = \(call.id)") == 170)
        #expect(try store.pendingEvents(limit: 10).map(\.kind) == [.appointmentChanged, .appointmentDeleted])
        // Deleting again records nothing more.
        try store.deleteCall(id: call.id, event: .appointmentDeleted, now: 180)
        #expect(try store.pendingEvents(limit: 10).count == 2)
        #expect(try scalar(store, "SELECT deleted_at FROM calls WHERE id = \(call.id)") == 170)
    }

    // MARK: one-time passwords

    @Test("a one-time password is found until it is spent or expires")
    func oneTimePassword() throws {
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        let hash = Crypto.sha256("token-1")
        try store.insertOneTimePassword(
            hash: hash, userID: doctor.id, callID: call.id, clientID: nil, expiresAt: 160, now: 100)
        #expect(
            try store.oneTimePassword(hash: hash, now: 159).map { [$0.userID, $0.callID] } == [doctor.id, call.id])
        #expect(try store.oneTimePassword(hash: hash, now: 160) == nil)
        #expect(try store.spendOneTimePassword(hash: hash, now: 160) == nil)
        #expect(try store.oneTimePassword(hash: Crypto.sha256("token-2"), now: 120) == nil)
        let spent = try store.spendOneTimePassword(hash: hash, now: 120)
        #expect(spent.map { [$0.userID, $0.callID] } == [doctor.id, call.id])
        #expect(try store.oneTimePassword(hash: hash, now: 121) == nil)
        #expect(try store.spendOneTimePassword(hash: hash, now: 121) == nil)
        #expect(try scalar(store, "SELECT used_at FROM one_time_passwords") == 120)
    }

    @Test("spending is atomic: of many concurrent redemptions exactly one wins", arguments: [1, 2])
    func spendConcurrently(stores count: Int) throws {
        // A second store on the same file: another connection, as another process would have.
        let stores = [store] + (try (1..<count).map { _ in try temporary.open() })
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        for round in 0..<20 {
            let hash = Crypto.sha256("contended-\(round)")
            try store.insertOneTimePassword(
                hash: hash, userID: doctor.id, callID: call.id, clientID: nil, expiresAt: 1_000, now: 100)
            let winners = Atomic<Int>(0)
            let failures = Atomic<Int>(0)
            runTogether(threads: 32) { index in
                do {
                    if try stores[index % stores.count].spendOneTimePassword(hash: hash, now: 200) != nil {
                        winners.add(1, ordering: .relaxed)
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
            #expect(winners.load(ordering: .relaxed) == 1, "round \(round)")
            #expect(failures.load(ordering: .relaxed) == 0, "round \(round)")
            #expect(try store.oneTimePassword(hash: hash, now: 201) == nil)
        }
    }

    // MARK: logs

    @Test("opening a log moves the call to running; a deleted or unknown call cannot be opened")
    func openLog() throws {
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        let log = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 200)
        #expect(log.callID == call.id)
        #expect(log.companyID == company.id)
        #expect(log.createdAt == 200)
        #expect(log.updatedAt == 200)
        #expect(log.end == nil)
        #expect(try store.callWasJoined(id: call.id))
        let running = try #require(try store.call(id: call.id))
        #expect(running.status == .running)
        #expect(running.startedAt == 200)
        #expect(running.participant(doctor.id)?.isPresent == true)
        #expect(running.participant(doctor.id)?.lastLogID == log.id)
        // A later entry keeps the first start.
        _ = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 300)
        #expect(try store.call(id: call.id)?.startedAt == 200)

        let deleted = try store.insertCall(newCall(), event: nil, now: 100)
        try store.deleteCall(id: deleted.id, event: nil, now: 150)
        #expect(throws: (any Error).self) {
            try store.openLog(callID: deleted.id, userID: doctor.id, tan: nil, now: 200)
        }
        #expect(throws: (any Error).self) { try store.openLog(callID: 999_999, userID: doctor.id, tan: nil, now: 200) }
        #expect(try scalar(store, "SELECT count(*) FROM call_logs WHERE call_id = \(deleted.id)") == 0)
        #expect(try scalar(store, "SELECT status FROM calls WHERE id = \(deleted.id)") == 0)
        #expect(try store.callWasJoined(id: deleted.id) == false)
    }

    @Test("closing twice keeps the first end")
    func closeTwice() throws {
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        let log = try store.openLog(callID: call.id, userID: doctor.id, tan: "AbCd-EfGh-1234", now: 200)
        try store.closeLog(id: log.id, end: 260)
        try store.closeLog(id: log.id, end: 900)
        let closed = try #require(try store.callLog(id: log.id))
        #expect(closed.end == 260)
        #expect(closed.updatedAt == 260)
        #expect(closed.tan == "AbCd-EfGh-1234")
        #expect(closed.duration(now: 5_000) == 60)
        #expect(try store.call(id: call.id)?.participant(doctor.id)?.isPresent == false)
        // A heartbeat after the end changes nothing either.
        try store.touchLog(id: log.id, now: 1_000)
        #expect(try store.closeStaleLogs(lastSeenBefore: 2_000, now: 2_000) == 0)
        #expect(try store.callLog(id: log.id)?.end == 260)
    }

    @Test("stale open logs are closed at their last-seen time")
    func closeStale() throws {
        let call = try store.insertCall(newCall(participants: [.account(doctor.id, .caller)]), event: nil, now: 100)
        let vanished = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 100)
        let alive = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 100)
        let left = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 100)
        let late = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 140)
        try store.touchLog(id: vanished.id, now: 110)
        try store.touchLog(id: alive.id, now: 150)
        try store.closeLog(id: left.id, end: 120)

        #expect(try store.closeStaleLogs(lastSeenBefore: 140, now: 160) == 1)
        let closed = try #require(try store.callLog(id: vanished.id))
        #expect(closed.end == 110)
        #expect(closed.updatedAt == 160)
        #expect(try store.callLog(id: alive.id)?.end == nil)
        #expect(try store.callLog(id: late.id)?.end == nil)  // last seen exactly at the bound
        #expect(try store.callLog(id: left.id)?.end == 120)
        #expect(try store.closeStaleLogs(lastSeenBefore: 141, now: 170) == 1)
        #expect(try store.callLog(id: late.id)?.end == 140)
        #expect(try store.closeStaleLogs(lastSeenBefore: 10_000, now: 10_000) == 1)
        #expect(try store.callLog(id: alive.id)?.end == 150)
        #expect(try scalar(store, "SELECT count(*) FROM call_logs WHERE end_at IS NULL") == 0)
    }

    @Test("setCallStatus sets the start and end times once")
    func setStatus() throws {
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        try store.setCallStatus(id: call.id, status: .running, now: 200)
        var stored = try #require(try store.call(id: call.id))
        #expect(stored.status == .running)
        #expect(stored.startedAt == 200)
        #expect(stored.endedAt == nil)
        #expect(stored.updatedAt == 200)
        try store.setCallStatus(id: call.id, status: .running, now: 250)
        #expect(try store.call(id: call.id)?.startedAt == 200)

        try store.setCallStatus(id: call.id, status: .ended, now: 300)
        stored = try #require(try store.call(id: call.id))
        #expect(stored.status == .ended)
        #expect(stored.startedAt == 200)
        #expect(stored.endedAt == 300)
        #expect(stored.updatedAt == 300)
        try store.setCallStatus(id: call.id, status: .ended, now: 400)
        #expect(try store.call(id: call.id)?.endedAt == 300)
        // Listed by status.
        #expect(try store.calls(CallQuery(status: .ended)).items.map(\.id) == [call.id])
        #expect(try store.calls(CallQuery(status: .planned)).total == 0)

        // The store itself refuses an entry into an ended call (a join racing the end), and the
        // call stays ended.
        #expect(throws: DomainError.self) { try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 500) }
        #expect(try store.call(id: call.id)?.status == .ended)
        #expect(try scalar(store, "SELECT count(*) FROM call_logs WHERE call_id = \(call.id)") == 0)
    }

    @Test("deleteCall refuses, inside its transaction, a call somebody joined meanwhile")
    func deleteRechecksJoins() throws {
        let call = try store.insertCall(newCall(), event: nil, now: 100)
        _ = try store.openLog(callID: call.id, userID: doctor.id, tan: nil, now: 110)
        #expect(try store.deleteCall(id: call.id, event: .appointmentDeleted, now: 120) == false)
        #expect(try store.call(id: call.id)?.deletedAt == nil)
        #expect(try scalar(store, "SELECT count(*) FROM outbox_events WHERE call_id = \(call.id)") == 0)
    }
}
