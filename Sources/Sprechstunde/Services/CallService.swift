/// Video calls of the User API, scoped to the caller's company (a doctor: own calls only).
public final class CallService: Sendable {
    public struct Settings: Sendable {
        /// TANs stay valid this long after the planned end (`begin + duration`).
        public var tanValidityAfterEnd: Int64 = 30 * 86_400
        public init() {}
    }

    let store: any Store
    let clock: Clock
    let settings: Settings

    public init(store: any Store, clock: Clock = .system, settings: Settings = Settings()) {
        self.store = store
        self.clock = clock
        self.settings = settings
    }

    /// Who may create and read calls: every ak user of a company; machine clients may not.
    static func requireCallAccess(_ principal: Principal) throws -> (companyID: Company.ID, role: Role) {
        guard case .user(_, let companyID, let role) = principal else {
            throw DomainError.forbidden("Machine clients cannot use the calls API; sign in as an ak user.")
        }
        guard let companyID else {
            throw DomainError.forbidden("Calls belong to a company; sign in as a user of the company.")
        }
        return (companyID, role)
    }

    /// Which calls the caller sees: a superadmin all, a doctor the own ones, everyone else the company's.
    struct Scope {
        var companyID: Company.ID?
        var participantUserID: User.ID?

        func includes(_ call: Call) -> Bool {
            (companyID == nil || call.companyID == companyID)
                && (participantUserID.map { call.participant($0) != nil } ?? true)
        }
    }

    static func scope(of principal: Principal) throws -> Scope {
        // The platform operator reads every company's calls, with or without a company of its own.
        if principal.isSuperadmin { return Scope() }
        let (companyID, role) = try requireCallAccess(principal)
        return Scope(
            companyID: role == .superadmin ? nil : companyID, participantUserID: role == .doc ? principal.userID : nil)
    }

    public func create(as principal: Principal, _ input: CallInput) throws -> Call {
        let (companyID, _) = try Self.requireCallAccess(principal)
        let now = clock.now()
        var errors = ValidationErrors()
        CallRules.checkDuration(input.duration, required: true, into: &errors)
        CallRules.checkBegin(input.begin, now: now, into: &errors)
        if let type = input.callType, type != "tan" { errors.add("call_type", "call_type must be \"tan\".") }
        CallRules.checkText("description", input.description, maximum: 5000, into: &errors)
        CallRules.checkText("extid", input.extid, maximum: 255, into: &errors)

        // Out-of-range values are already reported; computing with them could overflow.
        let begin = errors.has("begin") ? now : input.begin ?? now
        let duration = errors.has("duration") ? 1 : Int(input.duration ?? 1)
        let tanValidUntil = begin + Int64(duration) * 60 + settings.tanValidityAfterEnd
        var tanUsers: [NewParticipant] = []
        func addTanUser(name: String, email: String?, mobile: String?, dataAgreed: Bool) {
            tanUsers.append(
                .tanUser(
                    name: name.trimmingWhitespace, email: email.flatMap { $0.isEmpty ? nil : $0.normalisedEmail },
                    mobile: mobile.flatMap { $0.isEmpty ? nil : $0 }, dataAgreed: dataAgreed, tan: TAN.generate(),
                    validUntil: tanValidUntil))
        }
        if let name = input.tanUsername {
            CallRules.checkPerson(
                prefix: "", nameField: "tan_username", name: name, email: input.tanEmail, mobile: input.tanMobile,
                emailField: "tan_email", mobileField: "tan_mobile", into: &errors)
            addTanUser(
                name: name, email: input.tanEmail, mobile: input.tanMobile, dataAgreed: input.tanDataAgreed ?? false)
        } else if input.tanEmail != nil || input.tanMobile != nil {
            errors.add("tan_username", "tan_username is required when tan_email or tan_mobile is given.")
        }

        var callees: [NewParticipant] = []
        var seen: Set<User.ID> = [principal.userID ?? 0]
        for (index, entry) in input.additionalCallees.enumerated() {
            let field = "additional_callees.\(index)"
            if entry.userID == nil && entry.name == nil {
                errors.add(field, "each entry needs user_id (an ak user) or name (one more TAN user), or both.")
            }
            if let userID = entry.userID {
                if let problem = try calleeProblem(userID, companyID: companyID) {
                    errors.add("\(field).user_id", problem)
                } else if seen.insert(userID).inserted {
                    callees.append(.account(userID, .callee))
                }
            }
            if let name = entry.name {
                CallRules.checkPerson(
                    prefix: field, nameField: "\(field).name", name: name, email: entry.email, mobile: entry.mobile,
                    emailField: "\(field).email", mobileField: "\(field).mobile", into: &errors)
                addTanUser(name: name, email: entry.email, mobile: entry.mobile, dataAgreed: false)
            }
        }
        // The order ak answers with: TAN users, callees, then the creator.
        let participants = tanUsers + callees + [NewParticipant.account(principal.userID!, .caller)]
        if participants.count > CallRules.maximumParticipants {
            errors.add(
                "additional_callees",
                "a call has at most \(CallRules.maximumParticipants) participants (the creator included).")
        }
        try errors.check()

        let draft = NewCall(
            companyID: companyID, createdBy: principal.userID, begin: begin, duration: duration,
            room: Crypto.randomAlphanumeric(30), extid: input.extid, description: input.description,
            extendable: input.extendable, participants: participants)
        let event: CallEventKind? = begin > now ? .appointmentCreated : nil
        do {
            return try store.insertCall(draft, event: event, now: now)
        } catch is UniqueViolation {
            // A TAN or room collided (about 2^-71): draw again once.
            var fresh = draft
            fresh.room = Crypto.randomAlphanumeric(30)
            fresh.participants = draft.participants.map {
                guard case .tanUser(let name, let email, let mobile, let agreed, _, let until) = $0 else { return $0 }
                return .tanUser(
                    name: name, email: email, mobile: mobile, dataAgreed: agreed, tan: TAN.generate(), validUntil: until
                )
            }
            return try store.insertCall(fresh, event: event, now: now)
        }
    }

    /// Why `userID` cannot be a callee, or nil if it can.
    private func calleeProblem(_ userID: User.ID, companyID: Company.ID) throws -> String? {
        guard let user = try store.user(id: userID), user.companyID == companyID, user.role >= .doc else {
            return "user \(userID) is not an ak user of your company."
        }
        guard user.isActive(at: clock.now()) else { return "user \(userID) is locked or expired." }
        return nil
    }

    public func list(
        as principal: Principal, status: CallStatus?, beginFrom: Int64?, beginTo: Int64?, extid: String?,
        page: PageRequest
    ) throws -> Page<Call> {
        let scope = try Self.scope(of: principal)
        return try store.calls(
            CallQuery(
                companyID: scope.companyID, participantUserID: scope.participantUserID, status: status,
                beginFrom: beginFrom, beginTo: beginTo, extid: extid, page: page))
    }

    public func get(as principal: Principal, id: Call.ID) throws -> Call {
        let scope = try Self.scope(of: principal)
        guard let call = try store.call(id: id), scope.includes(call) else { throw DomainError.notFound("Call \(id)") }
        return call
    }

    /// Fails unless the caller may use the calls API at all (checked before reading a body).
    public func authorize(_ principal: Principal) throws {
        _ = try Self.scope(of: principal)
    }

    public func update(as principal: Principal, id: Call.ID, _ patch: CallPatch) throws -> Call {
        let stored = try get(as: principal, id: id)
        var call = stored
        let now = clock.now()
        var errors = ValidationErrors()
        CallRules.checkDuration(patch.duration, required: false, into: &errors)
        // Sending back the unchanged begin of a call that began long ago is fine.
        if patch.begin != stored.begin { CallRules.checkBegin(patch.begin, now: now, into: &errors) }
        if case .some(.some(let text)) = patch.description {
            CallRules.checkText("description", text, maximum: 5000, into: &errors)
        }
        if case .some(.some(let text)) = patch.extid { CallRules.checkText("extid", text, maximum: 255, into: &errors) }
        try errors.check()
        let movesBegin = patch.begin.map { $0 != call.begin } ?? false
        try CallLifecycle.checkChange(call.status, movesBegin: movesBegin)
        if stored.appointment != nil
            && (movesBegin || patch.duration.map { Int($0) != stored.duration } ?? false)
        {
            throw DomainError.invalid(
                "begin", "This call is a reserved time slot; move it with PATCH /api/v2/appointments/\(id).")
        }

        if let begin = patch.begin { call.begin = begin }
        if let duration = patch.duration { call.duration = Int(duration) }
        if let description = patch.description { call.description = description }
        if let extid = patch.extid { call.extid = extid }
        if let extendable = patch.extendable { call.extendable = extendable }
        if call == stored { return stored }
        call.updatedAt = now
        let event: CallEventKind? = call.begin > now ? .appointmentChanged : nil
        try store.updateCall(
            call, tanValidUntil: call.plannedEnd + settings.tanValidityAfterEnd, event: event, now: now)
        return try store.call(id: id) ?? call
    }

    public func delete(as principal: Principal, id: Call.ID) throws {
        let call = try get(as: principal, id: id)
        try CallLifecycle.checkDelete(call.status, everJoined: store.callWasJoined(id: id))
        let now = clock.now()
        if let appointment = call.appointment {
            try AppointmentService.checkCancelLeadTime(call, appointment, now: now, action: "cancelled")
        }
        // The store checks again inside its transaction: someone may have joined since.
        guard try store.deleteCall(id: id, event: call.begin > now ? .appointmentDeleted : nil, now: now) else {
            throw CallLifecycle.heldCallIsKept
        }
    }
}
