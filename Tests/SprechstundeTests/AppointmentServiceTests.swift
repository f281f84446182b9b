import Foundation
import Synchronization
import Testing

@testable import Sprechstunde

@Suite("AppointmentService on SQLite")
struct AppointmentServiceTests {
    let world: World
    /// Wednesdays 09:00-12:00 in 30-minute slots for doctor A.
    let hours: Availability
    /// The first of them after the world's clock (Tuesday 2023-11-14, 23:13 in Berlin).
    let wednesday9: Int64

    init() throws {
        world = try World()
        var input = AvailabilityInput()
        input.userID = world.doctorA.id
        input.weekday = 3
        input.start = "09:00"
        input.end = "12:00"
        input.slotLength = 30
        hours = try world.appointments.createAvailability(as: world.principal(world.adminA), input)
        wednesday9 = CivilTimeTests.utc("2023-11-15T08:00:00Z")
    }

    func reserve(_ begin: Int64, by user: User? = nil, doctor: User? = nil, patient: String = "Patientin") throws
        -> Call
    {
        var input = AppointmentInput()
        input.userID = (doctor ?? world.doctorA).id
        input.begin = begin
        input.tanUsername = patient
        input.tanEmail = "patientin@example.org"
        return try world.appointments.reserve(as: world.principal(user ?? world.assistantA), input)
    }

    func free(_ doctor: User? = nil, as user: User? = nil) throws -> [Int64] {
        try world.appointments.freeSlots(
            as: world.principal(user ?? world.doctorA), doctorID: (doctor ?? world.doctorA).id, from: nil, to: nil
        ).slots.map(\.begin)
    }

    func events() throws -> [CallEventKind] { try world.store.pendingEvents(limit: 100).map(\.kind) }

    func expectError(_ kind: DomainError.Kind, field: String? = nil, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(kind)")
        } catch let error as DomainError {
            #expect(error.kind == kind, "\(error)")
            if let field { #expect(error.fieldErrors.map(\.0).contains(field), "\(error.fieldErrors)") }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("free slots of the coming week; a reservation is a call with the patient and the doctor")
    func reserveCreatesAppointment() throws {
        let slots = try free()
        #expect(slots.count == 6)
        #expect(slots.first == wednesday9)
        let call = try reserve(wednesday9)
        #expect(call.begin == wednesday9)
        #expect(call.duration == 30)
        #expect(call.status == .planned)
        #expect(call.createdBy == world.assistantA.id)
        #expect(call.participants.map(\.role) == [.tanuser, .caller])
        #expect(call.participants.last?.userID == world.doctorA.id)
        #expect(call.appointment == Call.Appointment(doctorID: world.doctorA.id, leadTimeCreate: 0, leadTimeCancel: 0))
        #expect(try free() == Array(slots.dropFirst()))
        #expect(try events() == [.appointmentCreated])
    }

    @Test("a taken slot, an overlapping one and a time that is no slot are refused")
    func doubleBooking() throws {
        _ = try reserve(wednesday9)
        expectError(.conflict) { _ = try reserve(wednesday9, patient: "Zweiter") }
        // A second window offering 20-minute slots overlaps the first 30-minute one.
        var input = AvailabilityInput()
        input.date = "2023-11-15"
        input.start = "09:10"
        input.end = "09:50"
        input.slotLength = 20
        _ = try world.appointments.createAvailability(as: world.principal(world.doctorA), input)
        expectError(.conflict) { _ = try reserve(wednesday9 + 600) }
        _ = try reserve(wednesday9 + 1800)
        expectError(.validation, field: "begin") { _ = try reserve(wednesday9 + 60) }
        expectError(.validation, field: "begin") { _ = try reserve(wednesday9 - 7 * 86_400) }
        // A call the doctor already has blocks the slot too.
        _ = try world.makeCall(by: world.doctorA, duration: 30, begin: wednesday9 + 3600)
        expectError(.conflict) { _ = try reserve(wednesday9 + 3600) }
    }

    @Test("many reservations of one slot at the same moment: exactly one succeeds")
    func concurrentReservations() throws {
        let service = world.appointments
        let assistant = world.principal(world.assistantA)
        var input = AppointmentInput()
        input.userID = world.doctorA.id
        input.begin = wednesday9
        input.tanUsername = "Patient"
        let reservation = input
        let winners = Atomic<Int>(0)
        let conflicts = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            do {
                _ = try service.reserve(as: assistant, reservation)
                winners.add(1, ordering: .relaxed)
            } catch let error as DomainError where error.kind == .conflict {
                conflicts.add(1, ordering: .relaxed)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(winners.load(ordering: .relaxed) == 1)
        #expect(conflicts.load(ordering: .relaxed) == 15)
        let calls = try world.calls.list(
            as: world.principal(world.doctorA), status: nil, beginFrom: nil, beginTo: nil, extid: nil,
            page: PageRequest(page: 1, perPage: 100))
        #expect(calls.items.count == 1)
    }

    @Test("lead times: too soon to reserve, too late to move or cancel, through either API")
    func leadTimes() throws {
        _ = try world.appointments.updateSettings(
            as: world.principal(world.adminA), timeZone: nil, leadTimeCreate: 60, leadTimeCancel: 24 * 60)
        // 2023-11-15 09:00 Berlin is 9h47m after the clock: creating is fine, cancelling is too late.
        let call = try reserve(wednesday9)
        #expect(call.appointment?.leadTimeCancel == 24 * 60)
        expectError(.validation, field: "begin") {
            try world.appointments.cancel(as: world.principal(world.adminA), id: call.id)
        }
        expectError(.validation, field: "begin") {
            try world.calls.delete(as: world.principal(world.adminA), id: call.id)
        }
        expectError(.validation, field: "begin") {
            _ = try world.appointments.reschedule(
                as: world.principal(world.adminA), id: call.id, begin: wednesday9 + 1800)
        }
        // An hour before a slot it is no longer offered, nor reservable.
        world.clock.advance(wednesday9 + 1800 - world.clock.now - 3599)
        #expect(try free().first == wednesday9 + 3600)
        expectError(.validation, field: "begin") { _ = try reserve(wednesday9 + 1800) }
    }

    @Test("moving takes another free slot of the doctor; cancelling frees it; each records its event")
    func moveAndCancel() throws {
        let call = try reserve(wednesday9)
        let other = try reserve(wednesday9 + 3600, patient: "Andere")
        expectError(.conflict) {
            _ = try world.appointments.reschedule(as: world.principal(world.adminA), id: call.id, begin: other.begin)
        }
        let moved = try world.appointments.reschedule(
            as: world.principal(world.doctorA), id: call.id, begin: wednesday9 + 7200)
        #expect(moved.begin == wednesday9 + 7200)
        #expect(moved.participants.first?.tanValidUntil == moved.plannedEnd + 30 * 86_400)
        #expect(try free().contains(wednesday9))
        // The calls API cannot move an appointment around the slot rules.
        var patch = CallPatch()
        patch.begin = wednesday9 + 1800
        expectError(.validation, field: "begin") {
            _ = try world.calls.update(as: world.principal(world.adminA), id: call.id, patch)
        }
        try world.appointments.cancel(as: world.principal(world.assistantA), id: call.id)
        #expect(try free().contains(wednesday9 + 7200))
        #expect(try events() == [.appointmentCreated, .appointmentCreated, .appointmentChanged, .appointmentDeleted])
        expectError(.notFound) { _ = try world.appointments.get(as: world.principal(world.adminA), id: call.id) }
        // An ordinary call is no appointment.
        let plain = try world.makeCall(by: world.adminA)
        expectError(.notFound) { try world.appointments.cancel(as: world.principal(world.adminA), id: plain.id) }
    }

    @Test("who may do what: doctors their own, staff the company's, other companies nothing")
    func permissions() throws {
        var input = AvailabilityInput()
        input.userID = world.doctorA2.id
        input.weekday = 1
        input.start = "08:00"
        input.end = "09:00"
        input.slotLength = 15
        expectError(.forbidden) {
            _ = try world.appointments.createAvailability(as: world.principal(world.doctorA), input)
        }
        expectError(.forbidden) {
            _ = try world.appointments.createAvailability(as: world.principal(world.assistantA), input)
        }
        input.userID = world.doctorB.id
        expectError(.validation, field: "user_id") {
            _ = try world.appointments.createAvailability(as: world.principal(world.adminA), input)
        }
        expectError(.notFound) {
            _ = try world.appointments.availability(as: world.principal(world.adminB), id: hours.id)
        }
        expectError(.notFound) {
            _ = try world.appointments.availability(as: world.principal(world.doctorA2), id: hours.id)
        }
        expectError(.notFound) {
            try world.appointments.deleteAvailability(as: world.principal(world.adminB), id: hours.id)
        }
        expectError(.validation, field: "user_id") { _ = try free(world.doctorA, as: world.adminB) }
        #expect(
            try world.appointments.availabilities(
                as: world.principal(world.doctorA2), userID: nil, page: PageRequest()
            ).items.isEmpty)

        expectError(.forbidden) { _ = try reserve(wednesday9, by: world.doctorA2) }
        let call = try reserve(wednesday9, by: world.doctorA)
        expectError(.notFound) { try world.appointments.cancel(as: world.principal(world.doctorA2), id: call.id) }
        expectError(.notFound) { try world.appointments.cancel(as: world.principal(world.adminB), id: call.id) }
        expectError(.forbidden) {
            _ = try world.appointments.settings(as: .client(id: 1, companyID: world.companyA.id))
        }
        expectError(.forbidden) {
            _ = try world.appointments.updateSettings(
                as: world.principal(world.assistantA), timeZone: "UTC", leadTimeCreate: nil, leadTimeCancel: nil)
        }
    }

    @Test("invalid hours and settings are refused with the field named")
    func validation() throws {
        let admin = world.principal(world.adminA)
        func create(_ change: (inout AvailabilityInput) -> Void) -> String? {
            var input = AvailabilityInput()
            input.userID = world.doctorA.id
            input.weekday = 2
            input.start = "14:00"
            input.end = "17:00"
            input.slotLength = 15
            change(&input)
            do {
                _ = try world.appointments.createAvailability(as: admin, input)
                return nil
            } catch let error as DomainError {
                return error.fieldErrors.first?.0
            } catch {
                return "\(error)"
            }
        }
        #expect(create { _ in } == nil)
        #expect(create { $0.start = "25:00" } == "start")
        #expect(create { $0.end = "13:00" } == "end")
        #expect(create { $0.slotLength = 4 } == "slot_length")
        #expect(create { $0.slotLength = .some(nil) } == "slot_length")
        #expect(create { $0.slotLength = 240 } == "slot_length")
        #expect(create { $0.weekday = 8 } == "weekday")
        #expect(create { $0.date = "2027-02-30" } == "date")
        #expect(create { $0.date = "2027-02-03" } == "weekday")
        #expect(create { $0.weekday = .some(nil) } == "weekday")
        #expect(create { $0.kind = "sometimes" } == "kind")
        #expect(
            create {
                $0.validFrom = "2027-02-03"
                $0.validUntil = "2027-02-02"
            } == "valid_until")
        #expect(
            create {
                $0.kind = "unavailable"
                $0.slotLength = nil
            } == nil)

        func settings(_ zone: String?, _ create: Int64?, _ cancel: Int64?) -> String? {
            do {
                _ = try world.appointments.updateSettings(
                    as: admin, timeZone: zone, leadTimeCreate: create, leadTimeCancel: cancel)
                return nil
            } catch let error as DomainError {
                return error.fieldErrors.first?.0
            } catch {
                return "\(error)"
            }
        }
        #expect(settings("Mars/Olympus", nil, nil) == "time_zone")
        #expect(settings(nil, -1, nil) == "lead_time_create")
        #expect(settings(nil, nil, 50_000) == "lead_time_cancel")
        #expect(settings("America/New_York", 30, 60) == nil)
        #expect(try world.appointments.settings(as: world.principal(world.doctorA)).timeZone == "America/New_York")
    }

    @Test("changing hours: PATCH semantics, clearing a field, deleting")
    func updateHours() throws {
        let admin = world.principal(world.adminA)
        var patch = AvailabilityInput()
        patch.end = "10:00"
        let shorter = try world.appointments.updateAvailability(as: admin, id: hours.id, patch)
        #expect(shorter.end.description == "10:00")
        #expect(shorter.start.description == "09:00")
        #expect(try free().count == 2)
        patch = AvailabilityInput()
        patch.date = "2023-11-16"
        let moved = try world.appointments.updateAvailability(as: admin, id: hours.id, patch)
        #expect(moved.weekday == nil)
        #expect(moved.date?.description == "2023-11-16")
        try world.appointments.deleteAvailability(as: world.principal(world.doctorA), id: hours.id)
        #expect(try free().isEmpty)
        expectError(.notFound) { _ = try world.appointments.availability(as: admin, id: hours.id) }
    }

    @Test("a move after the appointment was cancelled is not found, not a silent success")
    func moveAfterCancel() throws {
        let call = try reserve(wednesday9)
        var moved = call
        moved.begin = wednesday9 + 1800
        try world.appointments.cancel(as: world.principal(world.adminA), id: call.id)
        // The service read the call before the cancel; the store's update finds it deleted.
        #expect(throws: DomainError.self) {
            try world.store.updateCall(moved, tanValidUntil: moved.plannedEnd, event: .appointmentChanged, now: 0)
        }
        #expect(try events() == [.appointmentCreated, .appointmentDeleted])
    }

    @Test("a locked doctor's appointments cannot be moved, only cancelled")
    func lockedDoctor() throws {
        let call = try reserve(wednesday9)
        var lock = UserInput()
        lock.isUnlocked = false
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA.id, lock)
        expectError(.validation, field: "begin") {
            _ = try world.appointments.reschedule(
                as: world.principal(world.adminA), id: call.id, begin: wednesday9 + 1800)
        }
        try world.appointments.cancel(as: world.principal(world.adminA), id: call.id)
        try world.appointments.deleteAvailability(as: world.principal(world.adminA), id: hours.id)
    }

    @Test("a long range answers the first 2000 slots and where the next ones begin")
    func slotLimit() throws {
        var input = AvailabilityInput()
        input.userID = world.doctorA.id
        for weekday in 1...7 {
            input.weekday = .some(Int64(weekday))
            input.start = "00:00"
            input.end = "24:00"
            input.slotLength = 5
            _ = try world.appointments.createAvailability(as: world.principal(world.adminA), input)
        }
        let now = world.clock.now
        let first = try world.appointments.freeSlots(
            as: world.principal(world.doctorA), doctorID: world.doctorA.id, from: now, to: now + 30 * 86_400)
        #expect(first.slots.count == AppointmentService.maximumSlots)
        let next = try #require(first.nextFrom)
        #expect(next == first.slots.last!.begin + 300)
        let second = try world.appointments.freeSlots(
            as: world.principal(world.doctorA), doctorID: world.doctorA.id, from: next, to: next + 86_400)
        #expect(second.slots.first?.begin == next)
        #expect(second.nextFrom == nil)
    }

    @Test("time zone names must be exact IANA names")
    func timeZoneNames() throws {
        for bad in ["Europe/Berlin\u{0}junk", "Europe/Berlin\u{0}", "europe/berlin", "Europe/Berlin ", "../etc/passwd"]
        {
            expectError(.validation, field: "time_zone") {
                _ = try world.appointments.updateSettings(
                    as: world.principal(world.adminA), timeZone: bad, leadTimeCreate: nil, leadTimeCancel: nil)
            }
        }
    }
}
