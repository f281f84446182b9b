import Testing

@testable import Sprechstunde

@Suite("CallLogService on SQLite")
struct CallLogServiceTests {
    let world: World
    init() throws { world = try World() }

    private var all: PageRequest { PageRequest(page: 1, perPage: 10_000) }

    private func logs(
        _ user: User, callID: Call.ID? = nil, userID: User.ID? = nil, from: Int64? = nil, to: Int64? = nil,
        page: PageRequest? = nil
    ) throws -> [CallLog.ID] {
        try world.callLogs.list(
            as: world.principal(user), callID: callID, userID: userID, from: from, to: to, page: page ?? all
        ).items.map(\.id)
    }

    // MARK: sessions

    @Test("joining opens an entry and moves a planned call to running")
    func join() throws {
        let call = try world.makeCall(by: world.doctorA)
        let patient = try world.tanParticipant(call)
        world.clock.advance(42)
        let log = try world.callLogs.join(callID: call.id, userID: patient.userID, tan: patient.tan)
        #expect(log.callID == call.id)
        #expect(log.companyID == world.companyA.id)
        #expect(log.userID == patient.userID)
        #expect(log.tan == patient.tan)
        #expect(log.createdAt == world.clock.now)
        #expect(log.end == nil)
        #expect(log.deletedAt == nil)
        #expect(try world.store.callLog(id: log.id) == log)

        let running = try #require(try world.store.call(id: call.id))
        #expect(running.status == .running)
        #expect(running.startedAt == world.clock.now)
        #expect(running.endedAt == nil)
        let present = try world.tanParticipant(running)
        #expect(present.isPresent)
        #expect(present.lastLogID == log.id)
        #expect(running.participant(world.doctorA.id)?.isPresent == false)
        #expect(running.participant(world.doctorA.id)?.lastLogID == nil)

        // A second participant joins the running call; it stays running with its first start.
        world.clock.advance(10)
        let doctor = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        #expect(doctor.tan == nil)
        #expect(try world.store.call(id: call.id)?.status == .running)
        #expect(try world.store.call(id: call.id)?.startedAt == world.clock.now - 10)
    }

    @Test("leaving sets end and duration; re-joining makes a new entry")
    func leaveAndRejoin() throws {
        let call = try world.makeCall(by: world.doctorA)
        let joined = world.clock.now
        let first = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        #expect(first.duration(now: joined + 7) == 7)
        world.clock.advance(125)
        try world.callLogs.leave(logID: first.id)
        let left = try #require(try world.store.callLog(id: first.id))
        #expect(left.end == joined + 125)
        #expect(left.duration(now: joined + 10_000) == 125)
        #expect(try world.store.call(id: call.id)?.participant(world.doctorA.id)?.isPresent == false)

        world.clock.advance(30)
        let second = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        #expect(second.id != first.id)
        #expect(second.createdAt == joined + 155)
        #expect(second.end == nil)
        #expect(try world.store.callLog(id: first.id)?.end == joined + 125)
        #expect(try logs(world.doctorA, callID: call.id) == [first.id, second.id])
        let now = try #require(try world.store.call(id: call.id))
        #expect(now.participant(world.doctorA.id)?.lastLogID == second.id)
        #expect(now.participant(world.doctorA.id)?.isPresent == true)
    }

    @Test("vanished participants are closed at their last-seen time")
    func closeVanished() throws {
        let call = try world.makeCall(by: world.doctorA)
        let patient = try world.tanParticipant(call)
        let start = world.clock.now
        let silent = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        let talking = try world.callLogs.join(callID: call.id, userID: patient.userID, tan: patient.tan)
        world.clock.advance(30)
        try world.callLogs.stillThere(logID: talking.id)
        world.clock.advance(40)
        // Now start + 70: the silent one was last seen 70 s ago, the other 40 s ago.
        #expect(try world.callLogs.closeVanished(silentFor: 60) == 1)
        #expect(try world.store.callLog(id: silent.id)?.end == start)
        #expect(try world.store.callLog(id: silent.id)?.updatedAt == start + 70)
        #expect(try world.store.callLog(id: talking.id)?.end == nil)
        // Nothing more to close right now.
        #expect(try world.callLogs.closeVanished(silentFor: 60) == 0)

        // Silent for exactly 60 s is not yet "longer than 60 s".
        world.clock.advance(20)
        #expect(try world.callLogs.closeVanished(silentFor: 60) == 0)
        world.clock.advance(1)
        #expect(try world.callLogs.closeVanished(silentFor: 60) == 1)
        #expect(try world.store.callLog(id: talking.id)?.end == start + 30)
        #expect(try world.store.callLog(id: silent.id)?.end == start)
        // A heartbeat after leaving changes nothing.
        try world.callLogs.stillThere(logID: talking.id)
        #expect(try world.callLogs.closeVanished(silentFor: 0) == 0)
        #expect(try world.store.callLog(id: talking.id)?.end == start + 30)
    }

    @Test("an empty room ends a running call and leaves a planned one planned")
    func roomStayedEmpty() throws {
        let planned = try world.makeCall(by: world.doctorA)
        let running = try world.makeCall(by: world.doctorA)
        let log = try world.callLogs.join(callID: running.id, userID: world.doctorA.id, tan: nil)
        let started = world.clock.now
        world.clock.advance(300)
        try world.callLogs.leave(logID: log.id)
        world.clock.advance(60)
        try world.callLogs.roomStayedEmpty(callID: planned.id)
        try world.callLogs.roomStayedEmpty(callID: running.id)

        let stillPlanned = try #require(try world.store.call(id: planned.id))
        #expect(stillPlanned.status == .planned)
        #expect(stillPlanned.startedAt == nil)
        #expect(stillPlanned.endedAt == nil)
        #expect(stillPlanned.updatedAt == planned.updatedAt)
        let ended = try #require(try world.store.call(id: running.id))
        #expect(ended.status == .ended)
        #expect(ended.startedAt == started)
        #expect(ended.endedAt == started + 360)

        // Again: nothing moves; the end time stays.
        world.clock.advance(60)
        try world.callLogs.roomStayedEmpty(callID: running.id)
        #expect(try world.store.call(id: running.id)?.endedAt == started + 360)
        // Unknown and deleted calls are ignored.
        try world.callLogs.roomStayedEmpty(callID: 999_999)
        try world.calls.delete(as: world.principal(world.doctorA), id: planned.id)
        try world.callLogs.roomStayedEmpty(callID: planned.id)
    }

    @Test("patients alone do not end an appointment: only after a doctor was in it, or its planned time is over")
    func patientsAloneDoNotEndACall() throws {
        let early = try world.makeCall(by: world.doctorA, duration: 30, begin: world.clock.now + 3 * 86_400)
        let patient = try world.tanParticipant(early)
        let visit = try world.callLogs.join(callID: early.id, userID: patient.userID, tan: patient.tan)
        world.clock.advance(60)
        try world.callLogs.leave(logID: visit.id)
        world.clock.advance(3600)
        #expect(try world.callLogs.endIdleCalls(grace: 30).isEmpty)
        #expect(try world.store.call(id: early.id)?.status == .running)
        // The doctor holds it at its time; then an empty room ends it as usual.
        world.clock.advance(3 * 86_400 - 3660)
        let held = try world.callLogs.join(callID: early.id, userID: world.doctorA.id, tan: nil)
        world.clock.advance(600)
        try world.callLogs.leave(logID: held.id)
        world.clock.advance(31)
        #expect(try world.callLogs.endIdleCalls(grace: 30) == [early.id])

        // A patient who waited in vain: the call ends once its planned time is over.
        let missed = try world.makeCall(by: world.doctorA, duration: 30)
        let waiting = try world.tanParticipant(missed)
        let wait = try world.callLogs.join(callID: missed.id, userID: waiting.userID, tan: waiting.tan)
        world.clock.advance(300)
        try world.callLogs.leave(logID: wait.id)
        world.clock.advance(60)
        #expect(try world.callLogs.endIdleCalls(grace: 30).isEmpty)
        world.clock.advance(30 * 60)
        #expect(try world.callLogs.endIdleCalls(grace: 30) == [missed.id])
    }

    @Test("running calls end once their room has been empty for the grace period")
    func endIdleCalls() throws {
        let left = try world.makeCall(by: world.doctorA)
        let stillIn = try world.makeCall(by: world.doctorA)
        let justLeft = try world.makeCall(by: world.doctorA)
        let planned = try world.makeCall(by: world.doctorA)
        let start = world.clock.now
        let leftLog = try world.callLogs.join(callID: left.id, userID: world.doctorA.id, tan: nil)
        _ = try world.callLogs.join(callID: stillIn.id, userID: world.doctorA.id, tan: nil)
        let justLeftLog = try world.callLogs.join(callID: justLeft.id, userID: world.doctorA.id, tan: nil)
        world.clock.advance(10)
        try world.callLogs.leave(logID: leftLog.id)
        world.clock.advance(25)
        try world.callLogs.leave(logID: justLeftLog.id)
        world.clock.advance(10)
        // Now start + 45: `left` has been empty for 35 s, `justLeft` for 10 s.
        #expect(try world.callLogs.endIdleCalls(grace: 30) == [left.id])
        let ended = try #require(try world.store.call(id: left.id))
        #expect(ended.status == .ended)
        #expect(ended.endedAt == start + 45)
        #expect(ended.startedAt == start)
        #expect(try world.store.call(id: stillIn.id)?.status == .running)
        #expect(try world.store.call(id: justLeft.id)?.status == .running)
        #expect(try world.store.call(id: planned.id)?.status == .planned)
        #expect(try world.callLogs.endIdleCalls(grace: 30).isEmpty)
        world.clock.advance(21)
        #expect(try world.callLogs.endIdleCalls(grace: 30) == [justLeft.id])
        #expect(try world.store.call(id: justLeft.id)?.endedAt == start + 66)
        #expect(try world.store.call(id: left.id)?.endedAt == start + 45)
        #expect(try world.store.call(id: stillIn.id)?.status == .running)
    }

    @Test("an ended call cannot be entered again")
    func joinEnded() throws {
        let call = try world.makeCall(by: world.doctorA)
        let log = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        try world.callLogs.leave(logID: log.id)
        try world.callLogs.roomStayedEmpty(callID: call.id)
        expectDomainError(.conflict) { try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil) }
        #expect(try logs(world.adminA, callID: call.id) == [log.id])
    }

    @Test("only participants enter; unknown and deleted calls are not found")
    func joinRefused() throws {
        let call = try world.makeCall(by: world.doctorA)
        expectDomainError(.forbidden) { try world.callLogs.join(callID: call.id, userID: world.doctorA2.id, tan: nil) }
        expectDomainError(.forbidden) { try world.callLogs.join(callID: call.id, userID: world.adminA.id, tan: nil) }
        expectDomainError(.forbidden) { try world.callLogs.join(callID: call.id, userID: world.doctorB.id, tan: nil) }
        // A TAN user of another call.
        let other = try world.makeCall(by: world.doctorA)
        let stranger = try world.tanParticipant(other).userID
        expectDomainError(.forbidden) { try world.callLogs.join(callID: call.id, userID: stranger, tan: nil) }
        #expect(try world.store.call(id: call.id)?.status == .planned)
        #expect(try logs(world.adminA).isEmpty)

        expectDomainError(.notFound) { try world.callLogs.join(callID: 999_999, userID: world.doctorA.id, tan: nil) }
        try world.calls.delete(as: world.principal(world.doctorA), id: call.id)
        expectDomainError(.notFound) { try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil) }
        #expect(try logs(world.adminA).isEmpty)
    }

    // MARK: list

    /// c1: doctorA's call with a patient; c2: adminA's call with doctorA2; cB: company B's.
    private func history() throws -> (
        c1: Call, c2: Call, cB: Call, patient: User.ID, logs: [CallLog.ID], start: Int64
    ) {
        let c1 = try world.makeCall(by: world.doctorA)
        let c2 = try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.doctorA2.id)])
        let cB = try world.makeCall(by: world.adminB)
        let patient = try world.tanParticipant(c1)
        let start = world.clock.now
        var ids: [CallLog.ID] = []
        ids.append(try world.callLogs.join(callID: c1.id, userID: world.doctorA.id, tan: nil).id)
        world.clock.advance(100)
        let patientLog = try world.callLogs.join(callID: c1.id, userID: patient.userID, tan: patient.tan)
        ids.append(patientLog.id)
        world.clock.advance(100)
        ids.append(try world.callLogs.join(callID: c2.id, userID: world.doctorA2.id, tan: nil).id)
        world.clock.advance(100)
        ids.append(try world.callLogs.join(callID: cB.id, userID: world.adminB.id, tan: nil).id)
        world.clock.advance(100)
        try world.callLogs.leave(logID: patientLog.id)
        ids.append(try world.callLogs.join(callID: c1.id, userID: patient.userID, tan: patient.tan).id)
        return (c1, c2, cB, patient.userID, ids, start)
    }

    @Test("a doctor sees the logs of their own calls only; another company sees none")
    func listScope() throws {
        let h = try history()
        let ids = h.logs
        #expect(try logs(world.doctorA) == [ids[0], ids[1], ids[4]])
        #expect(try logs(world.doctorA2) == [ids[2]])
        #expect(try logs(world.adminA) == [ids[0], ids[1], ids[2], ids[4]])
        #expect(try logs(world.assistantA) == [ids[0], ids[1], ids[2], ids[4]])
        #expect(try logs(world.adminB) == [ids[3]])
        #expect(try logs(world.doctorB).isEmpty)
        // Filters cannot widen the view.
        #expect(try logs(world.adminB, callID: h.c1.id).isEmpty)
        #expect(try logs(world.adminB, userID: world.doctorA.id).isEmpty)
        #expect(try logs(world.doctorA, callID: h.c2.id).isEmpty)
        #expect(try logs(world.doctorA2, userID: world.doctorA.id).isEmpty)
        // Machine clients do not read logs.
        let client = try world.clientPrincipal(of: world.companyA)
        expectDomainError(.forbidden) {
            try world.callLogs.list(as: client, callID: nil, userID: nil, from: nil, to: nil, page: all)
        }
    }

    @Test("filters: call_id, user_id, from, to")
    func listFilters() throws {
        let h = try history()
        let ids = h.logs
        #expect(try logs(world.adminA, callID: h.c1.id) == [ids[0], ids[1], ids[4]])
        #expect(try logs(world.adminA, callID: h.c2.id) == [ids[2]])
        #expect(try logs(world.adminA, userID: h.patient) == [ids[1], ids[4]])
        #expect(try logs(world.adminA, callID: h.c2.id, userID: h.patient).isEmpty)
        // Join times, inclusive.
        #expect(try logs(world.adminA, from: h.start + 100) == [ids[1], ids[2], ids[4]])
        #expect(try logs(world.adminA, to: h.start + 100) == [ids[0], ids[1]])
        #expect(try logs(world.adminA, from: h.start + 100, to: h.start + 200) == [ids[1], ids[2]])
        #expect(try logs(world.adminA, from: h.start + 401).isEmpty)
        let listed = try world.callLogs.list(
            as: world.principal(world.adminA), callID: nil, userID: h.patient, from: nil, to: nil, page: all)
        #expect(listed.items.map(\.tan) == [try world.tanParticipant(h.c1).tan, try world.tanParticipant(h.c1).tan])
        #expect(listed.items[0].end == h.start + 400)
        #expect(listed.items[1].end == nil)
    }

    @Test("logs are paginated, oldest first")
    func listPages() throws {
        let h = try history()
        let ids = h.logs
        let admin = world.principal(world.adminA)
        let first = try world.callLogs.list(
            as: admin, callID: nil, userID: nil, from: nil, to: nil, page: PageRequest(page: 1, perPage: 3))
        #expect(first.items.map(\.id) == [ids[0], ids[1], ids[2]])
        #expect(first.total == 4)
        #expect(first.lastPage == 2)
        let second = try world.callLogs.list(
            as: admin, callID: nil, userID: nil, from: nil, to: nil, page: PageRequest(page: 2, perPage: 3))
        #expect(second.items.map(\.id) == [ids[4]])
        #expect(second.total == 4)
        let beyond = try world.callLogs.list(
            as: admin, callID: nil, userID: nil, from: nil, to: nil, page: PageRequest(page: 3, perPage: 3))
        #expect(beyond.items.isEmpty)
        #expect(beyond.total == 4)
    }

    // MARK: retention

    @Test("the retention period is 90 days by default")
    func defaultRetention() {
        #expect(RetentionService.defaultRetentionDays == 90)
        #expect(RetentionService(store: world.store).retentionDays == 90)
    }

    @Test("purge deletes old calls with everything that belongs to them and keeps newer ones")
    func purge() throws {
        let day: Int64 = 86_400
        let t0 = world.clock.now
        let client = try world.clientPrincipal(of: world.companyA)

        // Old: held an hour after creation, with an outbox event, a one-time password and logs.
        let old = try world.makeCall(
            by: world.doctorA, begin: t0 + 3_600,
            callees: [CalleeInput(userID: world.doctorA2.id), CalleeInput(name: "Begleitung")])
        _ = try world.callAccess.createOneTimePassword(
            as: client, email: world.doctorA2.email!, scopeType: "call", callID: old.id)
        world.clock.advance(3_600)
        let oldPatient = try world.tanParticipant(old)
        let oldLog = try world.callLogs.join(callID: old.id, userID: oldPatient.userID, tan: oldPatient.tan)
        world.clock.advance(600)
        try world.callLogs.leave(logID: oldLog.id)
        try world.callLogs.roomStayedEmpty(callID: old.id)
        // Deleted long ago: goes as well.
        let deleted = try world.makeCall(by: world.doctorA)
        try world.calls.delete(as: world.principal(world.doctorA), id: deleted.id)
        // Planned long ago, but someone was still in it recently: kept.
        let active = try world.makeCall(by: world.doctorA)
        let activeLog = try world.callLogs.join(callID: active.id, userID: world.doctorA.id, tan: nil)
        // Created long ago for a date inside the retention period: kept.
        let later = try world.makeCall(by: world.doctorA, begin: t0 + 2 * day)

        world.clock.advance(89 * day)
        try world.callLogs.stillThere(logID: activeLog.id)
        world.clock.advance(2 * day)
        let fresh = try world.makeCall(by: world.doctorA)

        let tanUsers =
            old.participants.filter { $0.role == .tanuser }.map(\.userID)
            + deleted.participants.filter { $0.role == .tanuser }.map(\.userID)
        #expect(tanUsers.count == 3)
        let tanList = tanUsers.map(String.init).joined(separator: ",")
        let goneList = "\(old.id),\(deleted.id)"
        #expect(try world.count("SELECT count(*) FROM users WHERE id IN (\(tanList))") == 3)
        #expect(try world.count("SELECT count(*) FROM outbox_events WHERE call_id = \(old.id)") == 1)
        #expect(try world.count("SELECT count(*) FROM one_time_passwords WHERE call_id = \(old.id)") == 1)
        #expect(try world.count("SELECT count(*) FROM call_logs WHERE call_id = \(old.id)") == 1)

        let retention = RetentionService(store: world.store, clock: world.clock.clock, retentionDays: 90)
        #expect(try retention.purge() == 2)

        #expect(try world.count("SELECT count(*) FROM calls WHERE id IN (\(goneList))") == 0)
        for table in ["call_participants", "call_logs", "one_time_passwords", "outbox_events"] {
            #expect(try world.count("SELECT count(*) FROM \(table) WHERE call_id IN (\(goneList))") == 0, "\(table)")
        }
        #expect(try world.count("SELECT count(*) FROM users WHERE id IN (\(tanList))") == 0)
        #expect(try world.count("SELECT count(*) FROM user_roles WHERE user_id IN (\(tanList))") == 0)
        #expect(try world.count("SELECT count(*) FROM notification_options WHERE user_id IN (\(tanList))") == 0)

        // The accounts stay.
        for user in [world.doctorA, world.doctorA2] { #expect(try world.store.user(id: user.id) != nil) }
        // The others stay, with their participants and TAN users.
        for call in [active, later, fresh] {
            let kept = try #require(try world.store.call(id: call.id))
            #expect(kept.participants.map(\.userID) == call.participants.map(\.userID))
            #expect(try world.store.tanHolder(tanHash: TAN.hash(try world.tanParticipant(call).tan!)) != nil)
        }
        #expect(try logs(world.adminA) == [activeLog.id])
        #expect(try world.count("SELECT count(*) FROM calls") == 3)

        // Nothing more to do.
        #expect(try retention.purge() == 0)
        // 89 days on, the active one's last activity and the later one's date are old enough too.
        world.clock.advance(89 * day)
        #expect(try retention.purge() == 2)
        #expect(try world.store.call(id: active.id) == nil)
        #expect(try world.store.call(id: later.id) == nil)
        #expect(try world.store.call(id: fresh.id) != nil)
    }
}
