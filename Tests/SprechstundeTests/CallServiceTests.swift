import Testing

@testable import Sprechstunde

@Suite("CallService on SQLite")
struct CallServiceTests {
    let world: World
    init() throws { world = try World() }

    private var all: PageRequest { PageRequest(page: 1, perPage: 10_000) }
    private static let thirtyDays: Int64 = 30 * 86_400

    private func list(
        _ user: User, status: CallStatus? = nil, from: Int64? = nil, to: Int64? = nil, extid: String? = nil
    )
        throws -> [Call.ID]
    {
        try world.calls.list(
            as: world.principal(user), status: status, beginFrom: from, beginTo: to, extid: extid, page: all
        ).items.map(\.id)
    }

    private func roles(_ call: Call) -> [ParticipantRole] { call.participants.map(\.role) }

    // MARK: participants

    @Test("the creator joins as caller; a call without TAN users is valid")
    func creatorIsCaller() throws {
        let call = try world.makeCall(by: world.doctorA, tanUsername: nil)
        #expect(call.participants.count == 1)
        let caller = try #require(call.participants.first)
        #expect(caller.role == .caller)
        #expect(caller.userID == world.doctorA.id)
        #expect(caller.tan == nil)
        #expect(caller.tanValidUntil == nil)
        #expect(caller.name == "Arzt5 Code-Beispiele")
        #expect(caller.accountRole == .doc)
        #expect(call.createdBy == world.doctorA.id)
        #expect(call.companyID == world.companyA.id)
        #expect(call.status == .planned)
        #expect(call.room.count >= 20)
        // Stored, not just returned.
        #expect(try world.calls.get(as: world.principal(world.doctorA), id: call.id) == call)
    }

    @Test("tan_username makes a TAN participant with a TAN valid until begin + duration + 30 days")
    func tanUser() throws {
        let begin = world.clock.now + 3_600
        var input = world.callInput(duration: 45, begin: begin, tanUsername: " Patientin Eins ")
        input.tanEmail = "Patientin@Example.org"
        input.tanMobile = "+49 170 1234567"
        input.tanDataAgreed = true
        let call = try world.calls.create(as: world.principal(world.doctorA), input)
        #expect(roles(call) == [.tanuser, .caller])
        let patient = try world.tanParticipant(call)
        #expect(patient.userID != world.doctorA.id)
        #expect(patient.name == "Patientin Eins")
        #expect(patient.email == "patientin@example.org")
        #expect(patient.mobile == "+49 170 1234567")
        #expect(patient.dataAgreed)
        #expect(patient.accountRole == .tanuser)
        let tan = try #require(patient.tan)
        #expect(TAN.isWellFormed(tan))
        #expect(patient.tanValidUntil == begin + 45 * 60 + Self.thirtyDays)
        // Begin defaults to now.
        let now = try world.makeCall(by: world.doctorA, duration: 10)
        #expect(now.begin == world.clock.now)
        #expect(try world.tanParticipant(now).tanValidUntil == world.clock.now + 600 + Self.thirtyDays)
        #expect(try world.tanParticipant(now).tan != tan)
        // The TAN user is no account: no sign-in, no e-mail lookup.
        #expect(try world.store.account(email: "patientin@example.org") == nil)
    }

    @Test("additional_callees: user_id adds a callee, name a TAN user, both do both")
    func additionalCallees() throws {
        let call = try world.makeCall(
            by: world.doctorA, tanUsername: nil,
            callees: [
                CalleeInput(userID: world.doctorA2.id),
                CalleeInput(name: "Angehöriger", email: "angehoeriger@example.org"),
                CalleeInput(userID: world.assistantA.id, name: "Dolmetscherin", mobile: "+49 30 123456"),
            ])
        #expect(roles(call) == [.tanuser, .tanuser, .callee, .callee, .caller])
        #expect(
            call.participants.map(\.name) == [
                "Angehöriger", "Dolmetscherin", "Ärztin Zwei", "Assistenz A", "Arzt5 Code-Beispiele",
            ])
        #expect(
            call.participants.map(\.userID).suffix(3) == [world.doctorA2.id, world.assistantA.id, world.doctorA.id])
        let tanUsers = call.participants.filter { $0.role == .tanuser }
        #expect(tanUsers.allSatisfy { $0.tan.map(TAN.isWellFormed) == true })
        #expect(Set(tanUsers.compactMap(\.tan)).count == 2)
        #expect(tanUsers[0].email == "angehoeriger@example.org")
        #expect(tanUsers[1].mobile == "+49 30 123456")
        #expect(call.participants.filter { $0.role != .tanuser }.allSatisfy { $0.tan == nil })
    }

    @Test("order: TAN users first, then callees, then the caller")
    func order() throws {
        let call = try world.makeCall(
            by: world.adminA, tanUsername: "Patient",
            callees: [CalleeInput(userID: world.doctorA.id), CalleeInput(name: "Tochter")])
        #expect(roles(call) == [.tanuser, .tanuser, .callee, .caller])
        #expect(call.participants.map(\.name) == ["Patient", "Tochter", "Arzt5 Code-Beispiele", "Admin A"])
    }

    @Test("duplicate callees and the creator listed again are added once")
    func duplicates() throws {
        let call = try world.makeCall(
            by: world.doctorA, tanUsername: nil,
            callees: [
                CalleeInput(userID: world.doctorA2.id), CalleeInput(userID: world.doctorA.id),
                CalleeInput(userID: world.doctorA2.id, name: "Begleitung"),
            ])
        #expect(roles(call) == [.tanuser, .callee, .caller])
        #expect(call.participants.filter { $0.userID == world.doctorA2.id }.count == 1)
        #expect(call.participants.filter { $0.userID == world.doctorA.id }.map(\.role) == [.caller])
    }

    // MARK: validation

    @Test("duration is required and lies in 1...1440", arguments: [nil, 0, -5, 1441, 100_000] as [Int64?])
    func badDuration(duration: Int64?) throws {
        expectValidation("duration") {
            try world.calls.create(as: world.principal(world.doctorA), world.callInput(duration: duration))
        }
        #expect(try list(world.adminA).isEmpty)
    }

    @Test("durations 1 and 1440 are fine")
    func durationBounds() throws {
        #expect(try world.makeCall(by: world.doctorA, duration: 1).duration == 1)
        #expect(try world.makeCall(by: world.doctorA, duration: 1440).duration == 1440)
    }

    @Test("call_type other than tan is refused; leaving it out is fine")
    func callType() throws {
        var input = world.callInput()
        input.callType = "video"
        expectValidation("call_type") { try world.calls.create(as: world.principal(world.doctorA), input) }
        input.callType = nil
        #expect(try world.calls.create(as: world.principal(world.doctorA), input).duration == 30)
    }

    @Test("an invalid tan_email is refused")
    func tanEmail() throws {
        expectValidation("tan_email") {
            try world.makeCall(by: world.doctorA, tanUsername: "Patient", tanEmail: "kein-at-zeichen")
        }
        expectValidation("additional_callees.0.email") {
            try world.makeCall(by: world.doctorA, callees: [CalleeInput(name: "X", email: "x@")])
        }
        #expect(try list(world.adminA).isEmpty)
    }

    @Test("a callee entry with neither user_id nor name is refused")
    func emptyCallee() throws {
        expectValidation("additional_callees.1") {
            try world.makeCall(by: world.doctorA, callees: [CalleeInput(userID: world.doctorA2.id), CalleeInput()])
        }
        #expect(try list(world.adminA).isEmpty)
    }

    @Test("more than six participants are refused; six are fine")
    func tooMany() throws {
        let five = (1...5).map { CalleeInput(name: "Gast \($0)") }
        // Patient + 5 guests + creator = 7.
        expectValidation("additional_callees") {
            try world.makeCall(by: world.doctorA, tanUsername: "Patient", callees: five)
        }
        #expect(try list(world.adminA).isEmpty)
        // Callees by user_id count as well.
        expectValidation("additional_callees") {
            try world.makeCall(
                by: world.doctorA, tanUsername: "Patient",
                callees: Array(five.prefix(3)) + [
                    CalleeInput(userID: world.doctorA2.id), CalleeInput(userID: world.assistantA.id),
                ])
        }
        let six = try world.makeCall(by: world.doctorA, tanUsername: nil, callees: five)
        #expect(six.participants.count == CallRules.maximumParticipants)
    }

    @Test("a doctor of another company cannot be a callee")
    func foreignCallee() throws {
        let error = expectValidation("additional_callees.0.user_id") {
            try world.makeCall(by: world.doctorA, callees: [CalleeInput(userID: world.doctorB.id)])
        }
        // The message does not tell whether the id exists elsewhere.
        let unknown = expectValidation("additional_callees.0.user_id") {
            try world.makeCall(by: world.doctorA, callees: [CalleeInput(userID: 999_999)])
        }
        #expect(
            error?.fieldErrors.first?.1.first?.replacingOccurrences(of: "\(world.doctorB.id)", with: "999999")
                == unknown?.fieldErrors.first?.1.first)
        #expect(try list(world.adminA).isEmpty)
        #expect(try list(world.adminB).isEmpty)
    }

    @Test("locked and deleted users cannot be callees")
    func inactiveCallee() throws {
        var lock = UserInput()
        lock.isUnlocked = false
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA2.id, lock)
        expectValidation("additional_callees.0.user_id") {
            try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.doctorA2.id)])
        }
        try world.users.delete(as: world.principal(world.adminA), id: world.assistantA.id)
        expectValidation("additional_callees.0.user_id") {
            try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.assistantA.id)])
        }
        #expect(try list(world.adminA).isEmpty)
    }

    @Test("an expired account cannot be a callee")
    func expiredCallee() throws {
        var expire = UserInput()
        expire.expiresAt = .some(world.clock.now + 10)
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA2.id, expire)
        #expect(try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.doctorA2.id)]).id > 0)
        world.clock.advance(11)
        expectValidation("additional_callees.0.user_id") {
            try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.doctorA2.id)])
        }
    }

    @Test("a TAN user cannot be a callee")
    func tanUserAsCallee() throws {
        let first = try world.makeCall(by: world.doctorA)
        let patient = try world.tanParticipant(first)
        expectValidation("additional_callees.0.user_id") {
            try world.makeCall(by: world.doctorA, callees: [CalleeInput(userID: patient.userID)])
        }
        #expect(try list(world.adminA) == [first.id])
    }

    @Test("begin too far in the past or future is refused")
    func beginRange() throws {
        let now = world.clock.now
        expectValidation("begin") { try world.makeCall(by: world.doctorA, begin: now - 2 * 86_400) }
        expectValidation("begin") { try world.makeCall(by: world.doctorA, begin: now + 3 * 366 * 86_400) }
        #expect(try world.makeCall(by: world.doctorA, begin: now - 3_600).begin == now - 3_600)
    }

    @Test("every problem is reported at once")
    func manyProblems() throws {
        var input = world.callInput(duration: 0, tanUsername: "Patient", tanEmail: "falsch")
        input.callType = "phone"
        input.additionalCallees = [CalleeInput()]
        let error = expectDomainError(.validation) { try world.calls.create(as: world.principal(world.doctorA), input) }
        let fields = Set(error?.fieldErrors.map(\.0) ?? [])
        #expect(fields.isSuperset(of: ["duration", "call_type", "tan_email", "additional_callees.0"]))
    }

    // MARK: permissions

    @Test("machine clients cannot use the calls API")
    func clientForbidden() throws {
        let call = try world.makeCall(by: world.doctorA)
        let client = try world.clientPrincipal(of: world.companyA)
        expectDomainError(.forbidden) { try world.calls.create(as: client, world.callInput()) }
        expectDomainError(.forbidden) {
            try world.calls.list(as: client, status: nil, beginFrom: nil, beginTo: nil, extid: nil, page: all)
        }
        expectDomainError(.forbidden) { try world.calls.get(as: client, id: call.id) }
        var patch = CallPatch()
        patch.duration = 60
        expectDomainError(.forbidden) { try world.calls.update(as: client, id: call.id, patch) }
        expectDomainError(.forbidden) { try world.calls.delete(as: client, id: call.id) }
        #expect(try world.store.call(id: call.id)?.duration == 30)
        #expect(try list(world.adminA) == [call.id])
    }

    @Test("a doctor sees only the calls they take part in")
    func doctorScope() throws {
        let own = try world.makeCall(by: world.doctorA)
        let other = try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.doctorA2.id)])
        let asCallee = try world.makeCall(by: world.doctorA2, callees: [CalleeInput(userID: world.doctorA.id)])
        let doctor = world.principal(world.doctorA)
        #expect(try list(world.doctorA) == [asCallee.id, own.id])
        #expect(try list(world.doctorA2) == [asCallee.id, other.id])
        #expect(try world.calls.get(as: doctor, id: own.id).id == own.id)
        #expect(try world.calls.get(as: doctor, id: asCallee.id).id == asCallee.id)
        expectDomainError(.notFound) { try world.calls.get(as: doctor, id: other.id) }
        var patch = CallPatch()
        patch.duration = 90
        expectDomainError(.notFound) { try world.calls.update(as: doctor, id: other.id, patch) }
        expectDomainError(.notFound) { try world.calls.delete(as: doctor, id: other.id) }
        #expect(try world.store.call(id: other.id)?.duration == 30)
        // Filters cannot widen it.
        #expect(try list(world.doctorA, status: .planned) == [asCallee.id, own.id])
        // The company's admin and assistant see all three.
        #expect(try list(world.adminA) == [asCallee.id, other.id, own.id])
        #expect(try list(world.assistantA) == [asCallee.id, other.id, own.id])
    }

    @Test("another company's admin gets not found for every operation and never sees the call")
    func otherTenant() throws {
        let call = try world.makeCall(by: world.doctorA, extid: "A-1")
        let adminB = world.principal(world.adminB)
        let missing = expectDomainError(.notFound) { try world.calls.get(as: adminB, id: 999_999) }
        let hidden = expectDomainError(.notFound) { try world.calls.get(as: adminB, id: call.id) }
        #expect(missing?.message.replacingOccurrences(of: "999999", with: "\(call.id)") == hidden?.message)
        var patch = CallPatch()
        patch.duration = 90
        patch.description = .some("übernommen")
        expectDomainError(.notFound) { try world.calls.update(as: adminB, id: call.id, patch) }
        expectDomainError(.notFound) { try world.calls.delete(as: adminB, id: call.id) }
        #expect(try list(world.adminB).isEmpty)
        #expect(try list(world.adminB, extid: "A-1").isEmpty)
        #expect(try list(world.doctorB).isEmpty)
        // Unchanged and alive.
        let stored = try #require(try world.store.call(id: call.id))
        #expect(stored.duration == 30)
        #expect(stored.description == nil)
        // B's own call is B's alone.
        let own = try world.makeCall(by: world.adminB)
        #expect(try list(world.adminB) == [own.id])
        #expect(try list(world.adminA) == [call.id])
    }

    @Test("a superadmin reads every company's calls; creating needs a company of its own")
    func superadmin() throws {
        let a = try world.makeCall(by: world.doctorA)
        let b = try world.makeCall(by: world.adminB)
        let platformOperator = try world.provisioning.createUser(
            name: "Betrieb", email: "ops@platform.example", password: World.password, role: .superadmin,
            companyID: world.companyA.id)
        #expect(try list(platformOperator) == [b.id, a.id])
        #expect(try world.calls.get(as: world.principal(platformOperator), id: b.id).companyID == world.companyB.id)
        // Their own calls belong to their company.
        #expect(try world.makeCall(by: platformOperator).companyID == world.companyA.id)

        // Without a company: reads everything, but a call must belong to some company.
        let companyless = world.principal(world.superadmin)
        #expect(try list(world.superadmin).count == 3)
        #expect(try world.calls.get(as: companyless, id: b.id).id == b.id)
        #expect(throws: Never.self) { try world.calls.authorize(companyless) }
        expectDomainError(.forbidden) { try world.calls.create(as: companyless, world.callInput()) }
        #expect(try list(world.superadmin).count == 3)
        // Not to be confused with an admin, who reads only the own company's.
        #expect(try list(world.adminB) == [b.id])
    }

    // MARK: lists

    @Test("lists are newest first and paginated")
    func newestFirst() throws {
        var ids: [Call.ID] = []
        for _ in 0..<5 { ids.append(try world.makeCall(by: world.doctorA).id) }
        #expect(try list(world.doctorA) == ids.reversed())
        let page = try world.calls.list(
            as: world.principal(world.doctorA), status: nil, beginFrom: nil, beginTo: nil, extid: nil,
            page: PageRequest(page: 2, perPage: 2))
        #expect(page.items.map(\.id) == [ids[2], ids[1]])
        #expect(page.total == 5)
        #expect(page.lastPage == 3)
        // Every call of a page carries its own participants.
        #expect(page.items.allSatisfy { $0.participants.map(\.role) == [.tanuser, .caller] })
    }

    @Test("filters: status, begin from/to, extid")
    func filters() throws {
        let now = world.clock.now
        let early = try world.makeCall(by: world.doctorA, begin: now + 1_000, extid: "fall-1")
        let middle = try world.makeCall(by: world.doctorA, begin: now + 2_000, extid: "fall-2")
        let late = try world.makeCall(by: world.doctorA, begin: now + 3_000, extid: "fall-1")
        _ = try world.callLogs.join(callID: middle.id, userID: world.doctorA.id, tan: nil)

        #expect(try list(world.adminA, status: .planned) == [late.id, early.id])
        #expect(try list(world.adminA, status: .running) == [middle.id])
        #expect(try list(world.adminA, status: .ended).isEmpty)
        // Inclusive bounds.
        #expect(try list(world.adminA, from: now + 2_000) == [late.id, middle.id])
        #expect(try list(world.adminA, to: now + 2_000) == [middle.id, early.id])
        #expect(try list(world.adminA, from: now + 1_001, to: now + 2_999) == [middle.id])
        #expect(try list(world.adminA, from: now + 3_001).isEmpty)
        #expect(try list(world.adminA, extid: "fall-1") == [late.id, early.id])
        #expect(try list(world.adminA, extid: "fall-3").isEmpty)
        #expect(try list(world.adminA, status: .planned, from: now + 2_000, extid: "fall-1") == [late.id])
    }

    // MARK: update

    @Test("a planned call changes and its TANs move with the begin")
    func updatePlanned() throws {
        let now = world.clock.now
        let call = try world.makeCall(by: world.doctorA, begin: now + 3_600)
        let tan = try #require(try world.tanParticipant(call).tan)
        var patch = CallPatch()
        patch.begin = now + 10 * 86_400
        patch.duration = 20
        patch.description = .some("Nachsorge")
        patch.extid = .some("termin-7")
        patch.extendable = .some(true)
        world.clock.advance(5)
        let updated = try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch)
        #expect(updated.begin == now + 10 * 86_400)
        #expect(updated.duration == 20)
        #expect(updated.description == "Nachsorge")
        #expect(updated.extid == "termin-7")
        #expect(updated.extendable == true)
        #expect(updated.updatedAt == now + 5)
        #expect(updated.participants.map(\.userID) == call.participants.map(\.userID))
        let patient = try world.tanParticipant(updated)
        #expect(patient.tan == tan)
        #expect(patient.tanValidUntil == now + 10 * 86_400 + 20 * 60 + Self.thirtyDays)
        #expect(try world.store.call(id: call.id) == updated)

        // The TAN is valid past its old end now.
        world.clock.advance(3_600 + 30 * 60 + Self.thirtyDays + 86_400)
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: "203.0.113.1").call.id == call.id)

        // Clearing works; leaving out keeps.
        var clear = CallPatch()
        clear.description = .some(nil)
        let cleared = try world.calls.update(as: world.principal(world.doctorA), id: call.id, clear)
        #expect(cleared.description == nil)
        #expect(cleared.extid == "termin-7")
        #expect(cleared.duration == 20)
    }

    @Test("a running call keeps its begin but its duration can change")
    func updateRunning() throws {
        let call = try world.makeCall(by: world.doctorA)
        _ = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        var move = CallPatch()
        move.begin = call.begin + 600
        move.duration = 60
        expectDomainError(.conflict) { try world.calls.update(as: world.principal(world.doctorA), id: call.id, move) }
        #expect(try world.store.call(id: call.id)?.duration == 30)

        var longer = CallPatch()
        longer.duration = 60
        longer.begin = call.begin  // the same begin is no move
        let updated = try world.calls.update(as: world.principal(world.doctorA), id: call.id, longer)
        #expect(updated.duration == 60)
        #expect(updated.begin == call.begin)
        #expect(updated.status == .running)
        #expect(try world.tanParticipant(updated).tanValidUntil == call.begin + 3_600 + Self.thirtyDays)
    }

    @Test("an ended call cannot be changed")
    func updateEnded() throws {
        let call = try world.makeCall(by: world.doctorA)
        let log = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        try world.callLogs.leave(logID: log.id)
        try world.callLogs.roomStayedEmpty(callID: call.id)
        #expect(try world.store.call(id: call.id)?.status == .ended)
        var patch = CallPatch()
        patch.description = .some("nachträglich")
        expectDomainError(.conflict) { try world.calls.update(as: world.principal(world.adminA), id: call.id, patch) }
        #expect(try world.store.call(id: call.id)?.description == nil)
    }

    @Test("an update that changes nothing touches nothing and records nothing")
    func noOpUpdate() throws {
        let call = try world.makeCall(by: world.doctorA, begin: world.clock.now + 3_600, extid: "e-1")
        let before = try world.store.pendingEvents(limit: 100).count
        world.clock.advance(60)
        var same = CallPatch()
        same.begin = call.begin
        same.duration = Int64(call.duration)
        same.extid = .some("e-1")
        let result = try world.calls.update(as: world.principal(world.doctorA), id: call.id, same)
        #expect(result == call)
        #expect(try world.store.call(id: call.id)?.updatedAt == call.updatedAt)
        #expect(try world.store.pendingEvents(limit: 100).count == before)
        // A real change does record.
        same.duration = 31
        _ = try world.calls.update(as: world.principal(world.doctorA), id: call.id, same)
        #expect(try world.store.pendingEvents(limit: 100).count == before + 1)
        #expect(try world.store.call(id: call.id)?.updatedAt == world.clock.now)
    }

    @Test("the unchanged begin of a call that began long ago may be sent back; a new one is checked")
    func oldBeginSentBack() throws {
        let call = try world.makeCall(by: world.doctorA)
        world.clock.advance(3 * 86_400)
        var patch = CallPatch()
        patch.begin = call.begin
        patch.duration = 40
        #expect(try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch).duration == 40)
        patch.begin = call.begin + 60
        expectValidation("begin") { try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch) }
        #expect(try world.store.call(id: call.id)?.begin == call.begin)
    }

    @Test("update validates its fields")
    func updateValidation() throws {
        let call = try world.makeCall(by: world.doctorA)
        var patch = CallPatch()
        patch.duration = 0
        expectValidation("duration") { try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch) }
        patch.duration = 1441
        expectValidation("duration") { try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch) }
        patch = CallPatch()
        patch.begin = world.clock.now - 3 * 86_400
        expectValidation("begin") { try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch) }
        #expect(try world.store.call(id: call.id) == call)
    }

    // MARK: delete

    @Test("a planned call nobody joined can be deleted")
    func deletePlanned() throws {
        let call = try world.makeCall(by: world.doctorA)
        try world.calls.delete(as: world.principal(world.doctorA), id: call.id)
        expectDomainError(.notFound) { try world.calls.get(as: world.principal(world.doctorA), id: call.id) }
        expectDomainError(.notFound) { try world.calls.delete(as: world.principal(world.doctorA), id: call.id) }
        #expect(try list(world.adminA).isEmpty)
        #expect(try world.store.call(id: call.id) == nil)
    }

    @Test("a call somebody joined cannot be deleted, not even after everyone left")
    func deleteJoined() throws {
        let call = try world.makeCall(by: world.doctorA)
        let patient = try world.tanParticipant(call)
        let log = try world.callLogs.join(callID: call.id, userID: patient.userID, tan: patient.tan)
        expectDomainError(.conflict) { try world.calls.delete(as: world.principal(world.adminA), id: call.id) }
        try world.callLogs.leave(logID: log.id)
        expectDomainError(.conflict) { try world.calls.delete(as: world.principal(world.adminA), id: call.id) }
        try world.callLogs.roomStayedEmpty(callID: call.id)
        expectDomainError(.conflict) { try world.calls.delete(as: world.principal(world.adminA), id: call.id) }
        #expect(try world.store.call(id: call.id) != nil)
    }

    @Test("a call with a log entry is not deletable even if its status still says planned")
    func deleteJoinedButPlanned() throws {
        // E.g. a status reset by an operator, or a join racing the delete: the log entry decides.
        let call = try world.makeCall(by: world.doctorA)
        _ = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        try world.store.setCallStatus(id: call.id, status: .planned, now: world.clock.now)
        #expect(try world.store.call(id: call.id)?.status == .planned)
        expectDomainError(.conflict) { try world.calls.delete(as: world.principal(world.doctorA), id: call.id) }
        #expect(try world.store.call(id: call.id) != nil)
    }

    @Test("deleting ends the call's TANs and one-time passwords")
    func deleteEndsAccess() throws {
        let call = try world.makeCall(by: world.doctorA)
        let tan = try #require(try world.tanParticipant(call).tan)
        let client = try world.clientPrincipal(of: world.companyA)
        let otp = try world.callAccess.createOneTimePassword(
            as: client, email: world.doctorA.email!, scopeType: "call", callID: call.id)
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: "203.0.113.1").call.id == call.id)
        #expect(try world.store.oneTimePassword(hash: Crypto.sha256(otp.token), now: world.clock.now) != nil)

        try world.calls.delete(as: world.principal(world.doctorA), id: call.id)

        do {
            _ = try world.callAccess.checkTAN(tan, callID: call.id, from: "203.0.113.1")
            Issue.record("a deleted call's TAN still works")
        } catch let refusal as CallAccessService.Refusal {
            #expect(refusal == .callDeleted, "the page says the call was deleted, not that the TAN is wrong")
        }
        #expect(throws: CallAccessService.Refusal.self) {
            try world.callAccess.checkTAN(tan, callID: nil, from: "203.0.113.1")
        }
        #expect(try world.store.tanHolder(tanHash: TAN.hash(tan))?.callDeleted == true)
        #expect(try world.store.oneTimePassword(hash: Crypto.sha256(otp.token), now: world.clock.now) == nil)
        #expect(try world.count("SELECT count(*) FROM one_time_passwords WHERE call_id = \(call.id)") == 0)
        #expect(throws: CallAccessService.Refusal.otpInvalid) {
            try world.callAccess.redeemOneTimePassword(otp.token, callID: call.id, from: "203.0.113.1")
        }
    }

    // MARK: outbox

    @Test("changes to a future appointment are recorded in the outbox with the participants")
    func outboxFuture() throws {
        let begin = world.clock.now + 86_400
        let call = try world.makeCall(
            by: world.doctorA, begin: begin, tanUsername: "Patientin", tanEmail: "p@example.org",
            callees: [CalleeInput(userID: world.doctorA2.id)])
        var events = try world.store.pendingEvents(limit: 100)
        #expect(events.map(\.kind) == [.appointmentCreated])
        let created = try #require(events.first)
        #expect(created.callID == call.id)
        #expect(created.companyID == world.companyA.id)
        #expect(created.createdAt == world.clock.now)
        #expect(created.deliveredAt == nil)
        #expect(created.payload.kind == 2001)
        #expect(created.payload.begin == begin)
        #expect(created.payload.duration == 30)
        #expect(created.payload.participants.map(\.role) == ["tanuser", "callee", "caller"])
        #expect(created.payload.participants.map(\.userID) == call.participants.map(\.userID))
        #expect(created.payload.participants.map(\.name) == ["Patientin", "Ärztin Zwei", "Arzt5 Code-Beispiele"])
        #expect(created.payload.participants[0].email == "p@example.org")

        var patch = CallPatch()
        patch.begin = begin + 3_600
        _ = try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch)
        events = try world.store.pendingEvents(limit: 100)
        #expect(events.map(\.kind) == [.appointmentCreated, .appointmentChanged])
        #expect(events.last?.payload.kind == 2002)
        #expect(events.last?.payload.begin == begin + 3_600)
        #expect(events.last?.payload.participants.count == 3)

        try world.calls.delete(as: world.principal(world.doctorA), id: call.id)
        events = try world.store.pendingEvents(limit: 100)
        #expect(events.map(\.kind) == [.appointmentCreated, .appointmentChanged, .appointmentDeleted])
        #expect(events.last?.payload.kind == 2003)
        #expect(events.last?.payload.begin == begin + 3_600)
        #expect(events.last?.payload.participants.map(\.role) == ["tanuser", "callee", "caller"])
        #expect(events.allSatisfy { $0.callID == call.id })
        // Oldest first, and the limit holds.
        #expect(events.map(\.id) == events.map(\.id).sorted())
        #expect(try world.store.pendingEvents(limit: 2).map(\.id) == Array(events.prefix(2).map(\.id)))
    }

    @Test("a call that begins now records nothing")
    func outboxNow() throws {
        let call = try world.makeCall(by: world.doctorA)
        var patch = CallPatch()
        patch.duration = 50
        _ = try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch)
        try world.calls.delete(as: world.principal(world.doctorA), id: call.id)
        let past = try world.makeCall(by: world.doctorA, begin: world.clock.now - 600)
        try world.calls.delete(as: world.principal(world.doctorA), id: past.id)
        #expect(try world.store.pendingEvents(limit: 100).isEmpty)
        #expect(try world.count("SELECT count(*) FROM outbox_events") == 0)
    }

    @Test("a delivered event is no longer pending")
    func markDelivered() throws {
        let first = try world.makeCall(by: world.doctorA, begin: world.clock.now + 600)
        let second = try world.makeCall(by: world.doctorA, begin: world.clock.now + 1_200)
        let events = try world.store.pendingEvents(limit: 100)
        #expect(events.map(\.callID) == [first.id, second.id])
        try world.store.markEventDelivered(id: events[0].id, now: world.clock.now + 1)
        #expect(try world.store.pendingEvents(limit: 100).map(\.id) == [events[1].id])
        #expect(
            try world.count("SELECT delivered_at FROM outbox_events WHERE id = \(events[0].id)")
                == world.clock.now + 1)
        try world.store.markEventDelivered(id: events[1].id, now: world.clock.now + 2)
        #expect(try world.store.pendingEvents(limit: 100).isEmpty)
    }
}
