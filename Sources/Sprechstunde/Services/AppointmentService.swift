import Foundation

/// Consultation hours, free time slots and appointments (reserved slots) of a company.
///
/// Who may do what: every ak user of the company reads the settings, hours and free slots; a
/// doctor manages the own hours and appointments; assistants and admins reserve, move and
/// cancel appointments for any doctor of the company; admins also manage everyone's hours and
/// the company's settings. Another company's objects are not found.
public final class AppointmentService: Sendable {
    /// Longest range `freeSlots` answers for at once.
    public static let maximumRangeDays: Int64 = 62
    /// At most this many slots in one answer; `freeSlots` says where the next page starts.
    public static let maximumSlots = 2000
    /// Consultation-hour entries per doctor.
    public static let maximumEntries = 200
    /// Appointments lie at most two years ahead.
    static let maximumAhead: Int64 = 2 * 366 * 86_400
    static let slotLengthRange = 5...480
    /// Lead times up to 30 days.
    static let leadTimeRange: ClosedRange<Int64> = 0...43_200

    let store: any Store
    let clock: Clock
    let callSettings: CallService.Settings

    public init(store: any Store, clock: Clock = .system, callSettings: CallService.Settings = .init()) {
        self.store = store
        self.clock = clock
        self.callSettings = callSettings
    }

    // MARK: Settings

    public func settings(as principal: Principal) throws -> AppointmentSettings {
        let (companyID, _) = try CallService.requireCallAccess(principal)
        return try store.appointmentSettings(companyID: companyID) ?? AppointmentSettings()
    }

    public func updateSettings(
        as principal: Principal, timeZone: String?, leadTimeCreate: Int64?, leadTimeCancel: Int64?
    ) throws -> AppointmentSettings {
        let (companyID, role) = try CallService.requireCallAccess(principal)
        guard role >= .admin else {
            throw DomainError.forbidden("Only an admin can change the company's appointment settings.")
        }
        var settings = try store.appointmentSettings(companyID: companyID) ?? AppointmentSettings()
        var errors = ValidationErrors()
        if let timeZone {
            // Foundation accepts some malformed names (a NUL cuts them short); only exact IANA names pass.
            let plain = timeZone.unicodeScalars.allSatisfy {
                ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0)
                    || "/_+-".unicodeScalars.contains($0)
            }
            if !plain || TimeZone(identifier: timeZone)?.identifier != timeZone {
                errors.add("time_zone", "time_zone must be an IANA time zone such as Europe/Berlin.")
            } else {
                settings.timeZone = timeZone
            }
        }
        for (field, value, keyPath) in [
            ("lead_time_create", leadTimeCreate, \AppointmentSettings.leadTimeCreate),
            ("lead_time_cancel", leadTimeCancel, \AppointmentSettings.leadTimeCancel),
        ] {
            guard let value else { continue }
            if Self.leadTimeRange.contains(value) {
                settings[keyPath: keyPath] = Int(value)
            } else {
                errors.add(field, "\(field) must be between 0 and 43200 minutes (30 days).")
            }
        }
        try errors.check()
        try store.saveAppointmentSettings(settings, companyID: companyID, now: clock.now())
        return settings
    }

    // MARK: Consultation hours

    public func availabilities(as principal: Principal, userID: User.ID?, page: PageRequest) throws -> Page<
        Availability
    > {
        let (companyID, role) = try CallService.requireCallAccess(principal)
        // A doctor sees the own hours; practice staff everyone's.
        let filter = role == .doc ? principal.userID : userID
        return try store.availabilities(companyID: companyID, userID: filter, page: page)
    }

    public func availability(as principal: Principal, id: Availability.ID) throws -> Availability {
        let (companyID, role) = try CallService.requireCallAccess(principal)
        guard let entry = try store.availability(id: id), entry.companyID == companyID,
            role != .doc || entry.userID == principal.userID
        else { throw DomainError.notFound("Availability \(id)") }
        return entry
    }

    public func createAvailability(as principal: Principal, _ input: AvailabilityInput) throws -> Availability {
        let (companyID, _) = try CallService.requireCallAccess(principal)
        let now = clock.now()
        let draft = Availability(
            id: 0, companyID: companyID, userID: input.userID ?? principal.userID!, kind: .available, weekday: nil,
            date: nil, start: LocalTime(minutes: 0)!, end: LocalTime(minutes: 1440)!, slotLength: nil,
            createdAt: now, updatedAt: now)
        let entry = try merge(input, into: draft, creating: true)
        try requireHoursAccess(principal, doctorID: entry.userID, companyID: companyID)
        if try store.availabilities(userID: entry.userID).count >= Self.maximumEntries {
            throw DomainError.invalid(
                "user_id",
                "A doctor has at most \(Self.maximumEntries) consultation-hour entries; remove old ones first.")
        }
        return try store.insertAvailability(entry)
    }

    public func updateAvailability(as principal: Principal, id: Availability.ID, _ input: AvailabilityInput) throws
        -> Availability
    {
        let stored = try availability(as: principal, id: id)
        try requireHoursAccess(principal, doctorID: stored.userID, companyID: stored.companyID)
        var entry = try merge(input, into: stored, creating: false)
        if entry.userID != stored.userID {
            try requireHoursAccess(principal, doctorID: entry.userID, companyID: stored.companyID)
        }
        if entry == stored { return stored }
        entry.updatedAt = clock.now()
        try store.updateAvailability(entry)
        return entry
    }

    public func deleteAvailability(as principal: Principal, id: Availability.ID) throws {
        let stored = try availability(as: principal, id: id)
        // Also the hours of a doctor who has left or been locked can be removed.
        try requireHoursAccess(principal, doctorID: stored.userID, companyID: stored.companyID, checkDoctor: false)
        try store.deleteAvailability(id: id)
    }

    /// A doctor manages the own hours, an admin those of every doctor of the company.
    private func requireHoursAccess(
        _ principal: Principal, doctorID: User.ID, companyID: Company.ID, checkDoctor: Bool = true
    ) throws {
        let (_, role) = try CallService.requireCallAccess(principal)
        guard role >= .admin || doctorID == principal.userID else {
            throw DomainError.forbidden("Only the doctor or an admin can change a doctor's consultation hours.")
        }
        if checkDoctor, let problem = try doctorProblem(doctorID, companyID: companyID) {
            throw DomainError.invalid("user_id", problem)
        }
    }

    /// Applies the given fields and checks the result as a whole.
    private func merge(_ input: AvailabilityInput, into base: Availability, creating: Bool) throws -> Availability {
        var entry = base
        var errors = ValidationErrors()
        if let userID = input.userID { entry.userID = userID }
        if let kind = input.kind {
            if let value = Availability.Kind(rawValue: kind) {
                entry.kind = value
            } else {
                errors.add("kind", "kind must be \"available\" or \"unavailable\".")
            }
        }
        if let weekday = input.weekday {
            entry.weekday = weekday.map { Int(clamping: $0) }
            if let value = weekday, !(1...7).contains(value) {
                errors.add("weekday", "weekday must be 1 (Monday) to 7 (Sunday).")
            }
            if weekday != nil && input.date == nil { entry.date = nil }
        }
        if let date = input.date {
            entry.date = date.flatMap(LocalDate.init)
            if date != nil && entry.date == nil {
                errors.add("date", "date must be a date written YYYY-MM-DD.")
            } else if date != nil && input.weekday == nil {
                entry.weekday = nil
            }
        }
        for (field, text, keyPath) in [
            ("start", input.start, \Availability.start), ("end", input.end, \Availability.end),
        ] {
            guard let text else { continue }
            if let time = LocalTime(text) {
                entry[keyPath: keyPath] = time
            } else {
                errors.add(field, "\(field) must be a time written HH:MM (00:00 to 24:00).")
            }
        }
        if let length = input.slotLength {
            entry.slotLength = length.map { Int(clamping: $0) }
            if let value = length, !Self.slotLengthRange.contains(Int(clamping: value)) {
                errors.add("slot_length", "slot_length must be between 5 and 480 minutes.")
            }
        }
        for (field, value, keyPath) in [
            ("valid_from", input.validFrom, \Availability.validFrom),
            ("valid_until", input.validUntil, \Availability.validUntil),
        ] {
            guard let value else { continue }
            entry[keyPath: keyPath] = value.flatMap(LocalDate.init)
            if value != nil && entry[keyPath: keyPath] == nil {
                errors.add(field, "\(field) must be a date written YYYY-MM-DD.")
            }
        }
        if creating && input.start == nil && entry.kind == .available {
            errors.add("start", "start is required: when the consultation hours begin (HH:MM).")
        }
        if creating && input.end == nil && entry.kind == .available {
            errors.add("end", "end is required: when the consultation hours end (HH:MM).")
        }
        try errors.check()

        if entry.weekday != nil && entry.date != nil {
            errors.add("weekday", "give either weekday (every week) or date (one day), not both.")
        } else if entry.weekday == nil && entry.date == nil {
            errors.add("weekday", "weekday (1-7, every week) or date (YYYY-MM-DD, one day) is required.")
        }
        if entry.end <= entry.start { errors.add("end", "end must be after start.") }
        switch entry.kind {
        case .available:
            if let length = entry.slotLength {
                if entry.end > entry.start && entry.end.minutes - entry.start.minutes < length {
                    errors.add("slot_length", "slot_length is longer than the time from start to end.")
                }
            } else {
                errors.add("slot_length", "slot_length is required for available hours: minutes per slot (5-480).")
            }
        case .unavailable:
            if case .some(.some) = input.slotLength {
                errors.add("slot_length", "slot_length applies to available hours only.")
            }
            entry.slotLength = nil
        }
        if entry.date != nil && (entry.validFrom != nil || entry.validUntil != nil) {
            errors.add("valid_from", "valid_from and valid_until apply to weekly hours, not to a single date.")
        }
        if let from = entry.validFrom, let until = entry.validUntil, until < from {
            errors.add("valid_until", "valid_until must not be before valid_from.")
        }
        try errors.check()
        return entry
    }

    /// Why `userID` cannot have consultation hours or appointments here, or nil if it can.
    private func doctorProblem(_ userID: User.ID, companyID: Company.ID) throws -> String? {
        guard let user = try store.user(id: userID), user.companyID == companyID, user.role >= .doc,
            user.deletedAt == nil
        else { return "user \(userID) is not an ak user of your company." }
        guard user.isActive(at: clock.now()) else { return "user \(userID) is locked or expired." }
        return nil
    }

    // MARK: Free slots

    /// The doctor's free slots beginning in `from ..< to` (at most 62 days), not earlier than
    /// the company's `lead_time_create` from now.
    /// With more than `maximumSlots`, the first of them and `nextFrom`, the begin of the next one.
    public func freeSlots(as principal: Principal, doctorID: User.ID, from: Int64?, to: Int64?) throws -> (
        slots: [TimeSlot], zone: ZoneClock, nextFrom: Int64?
    ) {
        let (companyID, _) = try CallService.requireCallAccess(principal)
        if let problem = try doctorProblem(doctorID, companyID: companyID) {
            throw DomainError.invalid("user_id", problem)
        }
        let now = clock.now()
        // Unix times up to the year 36812: anything beyond cannot overflow the arithmetic below.
        let limit: Int64 = 1 << 40
        var errors = ValidationErrors()
        for (field, value) in [("from", from), ("to", to)] where value.map({ !(-limit...limit).contains($0) }) ?? false
        {
            errors.add(field, "\(field) must be a Unix time (seconds).")
        }
        try errors.check()
        let start = from ?? now
        let end = to ?? start + 7 * 86_400
        if end <= start { errors.add("to", "to must be after from.") }
        if end - start > Self.maximumRangeDays * 86_400 {
            errors.add("to", "from and to may be at most \(Self.maximumRangeDays) days apart.")
        }
        if start > now + Self.maximumAhead {
            errors.add("from", "from must be within two years from now: appointments cannot be reserved later.")
        }
        try errors.check()
        let settings = try store.appointmentSettings(companyID: companyID) ?? AppointmentSettings()
        let zone = Self.clock(settings)
        let slots = SlotPlanner.freeSlots(
            userID: doctorID, entries: try store.availabilities(userID: doctorID),
            busy: try store.busyIntervals(userID: doctorID, from: start, to: end + 86_400), from: start, to: end,
            earliest: now + Int64(settings.leadTimeCreate) * 60, clock: zone, limit: Self.maximumSlots + 1)
        guard slots.count > Self.maximumSlots else { return (slots, zone, nil) }
        return (Array(slots.prefix(Self.maximumSlots)), zone, slots[Self.maximumSlots].begin)
    }

    static func clock(_ settings: AppointmentSettings) -> ZoneClock {
        ZoneClock(TimeZone(identifier: settings.timeZone) ?? TimeZone(identifier: "UTC")!)
    }

    // MARK: Appointments

    /// Reserves a slot: a planned call with the patient as TAN user and the doctor as `caller`.
    public func reserve(as principal: Principal, _ input: AppointmentInput) throws -> Call {
        let (companyID, role) = try CallService.requireCallAccess(principal)
        let now = clock.now()
        var errors = ValidationErrors()
        let doctorID = input.userID ?? (role == .doc ? principal.userID : nil)
        if doctorID == nil { errors.add("user_id", "user_id is required: the doctor whose time slot to reserve.") }
        if input.begin == nil { errors.add("begin", "begin is required: the start of a free slot (Unix time).") }
        if let name = input.tanUsername {
            CallRules.checkPerson(
                prefix: "", nameField: "tan_username", name: name, email: input.tanEmail, mobile: input.tanMobile,
                emailField: "tan_email", mobileField: "tan_mobile", into: &errors)
        } else {
            errors.add("tan_username", "tan_username is required: the patient's name.")
        }
        CallRules.checkText("description", input.description, maximum: 5000, into: &errors)
        CallRules.checkText("extid", input.extid, maximum: 255, into: &errors)
        try errors.check()
        let doctor = doctorID!
        try requireAppointmentAccess(principal, role: role, doctorID: doctor)
        if let problem = try doctorProblem(doctor, companyID: companyID) {
            throw DomainError.invalid("user_id", problem)
        }
        let settings = try store.appointmentSettings(companyID: companyID) ?? AppointmentSettings()
        let slot = try offeredSlot(
            doctorID: doctor, begin: input.begin!, leadTimeCreate: settings.leadTimeCreate, settings: settings, now: now
        )

        let validUntil = slot.end + callSettings.tanValidityAfterEnd
        func draft() -> NewCall {
            NewCall(
                companyID: companyID, createdBy: principal.userID, begin: slot.begin, duration: slot.duration,
                room: Crypto.randomAlphanumeric(30), extid: input.extid, description: input.description,
                extendable: input.extendable,
                participants: [
                    .tanUser(
                        name: input.tanUsername!.trimmingWhitespace,
                        email: input.tanEmail.flatMap { $0.isEmpty ? nil : $0.normalisedEmail },
                        mobile: input.tanMobile.flatMap { $0.isEmpty ? nil : $0 },
                        dataAgreed: input.tanDataAgreed ?? false, tan: TAN.generate(), validUntil: validUntil),
                    .account(doctor, .caller),
                ],
                appointment: Call.Appointment(
                    doctorID: doctor, leadTimeCreate: settings.leadTimeCreate,
                    leadTimeCancel: settings.leadTimeCancel))
        }
        do {
            do {
                return try store.insertCall(draft(), event: .appointmentCreated, now: now)
            } catch is UniqueViolation {
                // A TAN collided (about 2^-71), or the slot was taken this instant: the second try tells.
                return try store.insertCall(draft(), event: .appointmentCreated, now: now)
            }
        } catch is SlotTaken {
            throw Self.slotTaken
        } catch is UniqueViolation {
            throw Self.slotTaken
        }
    }

    static let slotTaken = DomainError(
        .conflict, "This time slot is no longer free; GET /api/v2/timeslots lists the free ones.")

    /// Moves an appointment to another free slot of the same doctor.
    public func reschedule(as principal: Principal, id: Call.ID, begin: Int64) throws -> Call {
        let (call, appointment) = try appointment(as: principal, id: id)
        let now = clock.now()
        try CallLifecycle.checkChange(call.status, movesBegin: begin != call.begin)
        if begin == call.begin { return call }
        try Self.checkCancelLeadTime(call, appointment, now: now, action: "moved")
        if let problem = try doctorProblem(appointment.doctorID, companyID: call.companyID) {
            throw DomainError.invalid("begin", "The appointment cannot be moved: \(problem) Cancel it instead.")
        }
        let settings = try store.appointmentSettings(companyID: call.companyID) ?? AppointmentSettings()
        let slot = try offeredSlot(
            doctorID: appointment.doctorID, begin: begin, leadTimeCreate: appointment.leadTimeCreate,
            settings: settings, now: now)
        var moved = call
        moved.begin = slot.begin
        moved.duration = slot.duration
        moved.updatedAt = now
        do {
            try store.updateCall(
                moved, tanValidUntil: slot.end + callSettings.tanValidityAfterEnd, event: .appointmentChanged, now: now)
        } catch is SlotTaken {
            throw Self.slotTaken
        } catch is UniqueViolation {
            throw Self.slotTaken
        }
        return try store.call(id: id) ?? moved
    }

    /// Cancels (deletes) an appointment nobody has joined, no later than `lead_time_cancel`.
    public func cancel(as principal: Principal, id: Call.ID) throws {
        let (call, appointment) = try appointment(as: principal, id: id)
        let now = clock.now()
        try CallLifecycle.checkDelete(call.status, everJoined: store.callWasJoined(id: id))
        try Self.checkCancelLeadTime(call, appointment, now: now, action: "cancelled")
        guard try store.deleteCall(id: id, event: .appointmentDeleted, now: now) else {
            throw CallLifecycle.heldCallIsKept
        }
    }

    /// 422 once the appointment is closer than its `lead_time_cancel`.
    static func checkCancelLeadTime(_ call: Call, _ appointment: Call.Appointment, now: Int64, action: String) throws {
        let deadline = call.begin - Int64(appointment.leadTimeCancel) * 60
        guard now <= deadline else {
            throw DomainError.invalid(
                "begin",
                "The appointment can no longer be \(action): its lead_time_cancel (the company's when it was "
                    + "reserved) is \(appointment.leadTimeCancel) minutes before it begins.")
        }
    }

    public func get(as principal: Principal, id: Call.ID) throws -> Call {
        try appointment(as: principal, id: id).0
    }

    /// The appointment call `id` as the caller may change it.
    private func appointment(as principal: Principal, id: Call.ID) throws -> (Call, Call.Appointment) {
        let (companyID, role) = try CallService.requireCallAccess(principal)
        guard let call = try store.call(id: id), call.companyID == companyID, let appointment = call.appointment,
            role != .doc || appointment.doctorID == principal.userID
        else { throw DomainError.notFound("Appointment \(id)") }
        try requireAppointmentAccess(principal, role: role, doctorID: appointment.doctorID)
        return (call, appointment)
    }

    /// A doctor books the own slots; assistants and admins any doctor's.
    private func requireAppointmentAccess(_ principal: Principal, role: Role, doctorID: User.ID) throws {
        guard role >= .assistant || doctorID == principal.userID else {
            throw DomainError.forbidden("A doctor can reserve, move and cancel only the own appointments.")
        }
    }

    /// The doctor's slot that begins at `begin`, if the hours offer one and it is not too soon.
    /// Whether it is still free is decided by the store, in the writing transaction.
    private func offeredSlot(
        doctorID: User.ID, begin: Int64, leadTimeCreate: Int, settings: AppointmentSettings, now: Int64
    ) throws -> TimeSlot {
        let earliest = now + Int64(leadTimeCreate) * 60
        guard begin >= earliest else {
            throw DomainError.invalid(
                "begin",
                begin < now
                    ? "begin is in the past."
                    : "Appointments must be reserved at least \(leadTimeCreate) minutes before they begin "
                        + "(the company's lead_time_create).")
        }
        guard begin < now + Self.maximumAhead else {
            throw DomainError.invalid("begin", "begin must be within two years from now.")
        }
        let offered = SlotPlanner.freeSlots(
            userID: doctorID, entries: try store.availabilities(userID: doctorID), busy: [], from: begin,
            to: begin + 1, earliest: earliest, clock: Self.clock(settings))
        guard let slot = offered.first else {
            throw DomainError.invalid(
                "begin",
                "begin is not the start of a time slot in the doctor's consultation hours; "
                    + "GET /api/v2/timeslots lists the free ones.")
        }
        return slot
    }
}

/// `POST /api/v2/appointments`: which slot, and the patient.
public struct AppointmentInput: Sendable, Equatable {
    public var userID: User.ID?
    public var begin: Int64?
    public var tanUsername: String?
    public var tanEmail: String?
    public var tanMobile: String?
    public var tanDataAgreed: Bool?
    public var description: String?
    public var extid: String?
    public var extendable: Bool?

    public init() {}
}
