import Testing

@testable import Sprechstunde

private typealias Refusal = CallAccessService.Refusal

@Suite("CallAccessService: one-time passwords")
struct OneTimePasswordTests {
    let world: World
    let client: Principal
    let call: Call
    let address = "203.0.113.5"

    init() throws {
        world = try World()
        client = try world.clientPrincipal(of: world.companyA)
        call = try world.makeCall(by: world.adminA, callees: [CalleeInput(userID: world.doctorA.id)])
    }

    private func create(
        as principal: Principal? = nil, email: String? = nil, scopeType: String = "call", callID: Call.ID? = nil
    ) throws -> (token: String, validUntil: Int64) {
        try world.callAccess.createOneTimePassword(
            as: principal ?? client, email: email ?? world.doctorA.email!, scopeType: scopeType,
            callID: callID ?? call.id)
    }

    @Test("a client gets a 96-character letters-and-digits token valid for 60 seconds")
    func token() throws {
        let otp = try create()
        #expect(otp.token.count == 96)
        #expect(otp.token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(otp.validUntil == world.clock.now + 60)
        // Stored only as a hash.
        #expect(try world.count("SELECT count(*) FROM one_time_passwords WHERE call_id = \(call.id)") == 1)
        let hash = Crypto.hex(Crypto.sha256(otp.token)).uppercased()
        #expect(try world.count("SELECT count(*) FROM one_time_passwords WHERE hex(token_hash) = '\(hash)'") == 1)
        // Every token is new; the creator of the call may have one too; the e-mail's case does not matter.
        #expect(try create().token != otp.token)
        #expect(try create(email: "ADMIN@A.example").token.count == 96)
        let entry = try world.callAccess.checkOneTimePassword(otp.token, callID: call.id, from: address)
        #expect(entry.participant.userID == world.doctorA.id)
        #expect(entry.participant.role == .callee)
        #expect(entry.call.id == call.id)
    }

    @Test("only machine clients may create one-time passwords")
    func userForbidden() throws {
        for user in [world.adminA, world.doctorA, world.superadmin] {
            expectDomainError(.forbidden) { try create(as: world.principal(user)) }
        }
        #expect(try world.count("SELECT count(*) FROM one_time_passwords") == 0)
    }

    @Test("a client of another company gets a validation error on scope_id")
    func otherCompany() throws {
        let clientB = try world.clientPrincipal(of: world.companyB)
        let foreign = expectValidation("scope_id") { try create(as: clientB) }
        // The same answer as for a call that does not exist.
        let missing = expectValidation("scope_id") { try create(as: clientB, callID: 999_999) }
        #expect(foreign?.message.replacingOccurrences(of: "\(call.id)", with: "999999") == missing?.message)
        // Even for B's own doctor.
        expectValidation("scope_id") { try create(as: clientB, email: world.doctorB.email!) }
        #expect(try world.count("SELECT count(*) FROM one_time_passwords") == 0)
    }

    @Test("the user must take part in the call")
    func nonParticipant() throws {
        expectValidation("email") { try create(email: world.doctorA2.email!) }
        expectValidation("email") { try create(email: world.assistantA.email!) }
        // Another company's user, and an address nobody has.
        expectValidation("email") { try create(email: world.doctorB.email!) }
        expectValidation("email") { try create(email: "niemand@a.example") }
        #expect(try world.count("SELECT count(*) FROM one_time_passwords") == 0)
    }

    @Test("a participant who moved to another company gets no one-time password from the old one")
    func movedAway() throws {
        var move = UserInput()
        move.companyID = world.companyB.id
        _ = try world.users.update(as: world.principal(world.superadmin), id: world.doctorA.id, move)
        // Still listed in A's call, but no longer A's user.
        #expect(try world.store.call(id: call.id)?.participant(world.doctorA.id)?.role == .callee)
        expectValidation("email") { try create() }
        let clientB = try world.clientPrincipal(of: world.companyB)
        expectValidation("scope_id") { try create(as: clientB) }
        #expect(try world.count("SELECT count(*) FROM one_time_passwords") == 0)
    }

    @Test("a TAN user's e-mail gets no one-time password")
    func tanUserEmail() throws {
        let withPatient = try world.makeCall(
            by: world.doctorA, tanUsername: "Patientin", tanEmail: "patientin@example.org")
        expectValidation("email") { try create(email: "patientin@example.org", callID: withPatient.id) }
        #expect(try world.count("SELECT count(*) FROM one_time_passwords") == 0)
    }

    @Test("scope_type must be call")
    func scopeType() throws {
        expectValidation("scope_type") { try create(scopeType: "user") }
        expectValidation("scope_type") { try create(scopeType: "") }
        expectValidation("scope_type") { try create(scopeType: "Call") }
        #expect(try world.count("SELECT count(*) FROM one_time_passwords") == 0)
    }

    @Test("no one-time password for an ended or deleted call")
    func endedOrDeleted() throws {
        let log = try world.callLogs.join(callID: call.id, userID: world.doctorA.id, tan: nil)
        try world.callLogs.leave(logID: log.id)
        try world.callLogs.roomStayedEmpty(callID: call.id)
        expectValidation("scope_id") { try create() }
        let other = try world.makeCall(by: world.doctorA)
        try world.calls.delete(as: world.principal(world.doctorA), id: other.id)
        expectValidation("scope_id") { try create(callID: other.id) }
    }

    @Test("checking does not spend; redeeming does, once")
    func checkAndRedeem() throws {
        let otp = try create()
        for _ in 0..<3 {
            #expect(
                try world.callAccess.checkOneTimePassword(otp.token, callID: call.id, from: address).participant.userID
                    == world.doctorA.id)
        }
        let entry = try world.callAccess.redeemOneTimePassword(otp.token, callID: call.id, from: address)
        #expect(entry.participant.userID == world.doctorA.id)
        #expect(entry.call.id == call.id)
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.redeemOneTimePassword(otp.token, callID: call.id, from: address)
        }
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.checkOneTimePassword(otp.token, callID: call.id, from: address)
        }
        // Another token for the same user and call is independent.
        let second = try create()
        #expect(
            try world.callAccess.redeemOneTimePassword(second.token, callID: call.id, from: address).call.id == call.id)
    }

    @Test("a one-time password expires after 60 seconds")
    func expiry() throws {
        let early = try create()
        let late = try create()
        world.clock.advance(59)
        #expect(
            try world.callAccess.checkOneTimePassword(early.token, callID: call.id, from: address).call.id == call.id)
        #expect(
            try world.callAccess.redeemOneTimePassword(early.token, callID: call.id, from: address).call.id == call.id)
        world.clock.advance(2)
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.checkOneTimePassword(late.token, callID: call.id, from: address)
        }
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.redeemOneTimePassword(late.token, callID: call.id, from: address)
        }
    }

    @Test("locking or deleting the user voids an unspent one-time password")
    func userLockedAfterIssue() throws {
        let locked = try create()
        var lock = UserInput()
        lock.isUnlocked = false
        _ = try world.users.update(as: world.principal(world.adminA), id: world.doctorA.id, lock)
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.checkOneTimePassword(locked.token, callID: call.id, from: address)
        }
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.redeemOneTimePassword(locked.token, callID: call.id, from: address)
        }
        // And no new one is issued.
        expectValidation("email") { try create() }

        // The admin is the caller: issue one, then delete the admin (as another admin).
        let admin2 = try world.provisioning.createUser(
            name: "Admin Zwei", email: "admin2@a.example", password: World.password, role: .admin,
            companyID: world.companyA.id)
        let deleted = try create(email: world.adminA.email!)
        try world.users.delete(as: world.principal(admin2), id: world.adminA.id)
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.redeemOneTimePassword(deleted.token, callID: call.id, from: address)
        }
    }

    @Test("a one-time password opens only its own call")
    func wrongCall() throws {
        let other = try world.makeCall(by: world.doctorA)
        let otp = try create()
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.checkOneTimePassword(otp.token, callID: other.id, from: address)
        }
        #expect(throws: Refusal.otpInvalid) {
            try world.callAccess.redeemOneTimePassword(otp.token, callID: other.id, from: address)
        }
        // The failed attempt did not spend it.
        #expect(
            try world.callAccess.redeemOneTimePassword(otp.token, callID: call.id, from: address).call.id == call.id)
    }

    @Test("unknown tokens are refused")
    func unknown() throws {
        _ = try create()
        for token in ["", "x", Crypto.randomAlphanumeric(96)] {
            #expect(throws: Refusal.otpInvalid) {
                try world.callAccess.checkOneTimePassword(token, callID: call.id, from: address)
            }
            #expect(throws: Refusal.otpInvalid) {
                try world.callAccess.redeemOneTimePassword(token, callID: call.id, from: address)
            }
        }
    }
}

@Suite("CallAccessService: TANs")
struct TANAccessTests {
    let world: World
    let call: Call
    let tan: String
    let patient: CallParticipant
    let address = "203.0.113.9"

    init() throws {
        var settings = CallAccessService.Settings()
        settings.guessLimit = 5
        settings.guessWindow = 600
        world = try World(callAccess: settings)
        call = try world.makeCall(by: world.doctorA, duration: 30)
        patient = try world.tanParticipant(call)
        tan = try #require(patient.tan)
    }

    @Test("a valid TAN leads to its call as its TAN user, with or without the call id")
    func valid() throws {
        let entry = try world.callAccess.checkTAN(tan, callID: call.id, from: address)
        #expect(entry.call.id == call.id)
        #expect(entry.participant.userID == patient.userID)
        #expect(entry.participant.role == .tanuser)
        #expect(entry.participant.name == "Patientin Eins")
        // `/video/login?tan=`: no call id.
        let login = try world.callAccess.checkTAN(tan, callID: nil, from: address)
        #expect(login == entry)
        // Checking does not use the TAN up.
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: address).call.id == call.id)
    }

    @Test("a TAN of the wrong shape is refused", arguments: ["", "abc", "abcd-efgh-ijk!", "abcd efgh ijkl"])
    func wrongShape(text: String) throws {
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN(text, callID: call.id, from: address) }
    }

    @Test("a stored code that is not TAN-shaped is never accepted")
    func shapeCheckedFirst() throws {
        // Written straight to the store, bypassing generation: the shape check still refuses it.
        let odd = try world.store.insertCall(
            NewCall(
                companyID: world.companyA.id, createdBy: world.doctorA.id, begin: world.clock.now, duration: 30,
                room: Crypto.randomAlphanumeric(30), extid: nil, description: nil, extendable: nil,
                participants: [
                    .tanUser(
                        name: "Alt", email: nil, mobile: nil, dataAgreed: false, tan: "kurz",
                        validUntil: world.clock.now + 86_400),
                    .account(world.doctorA.id, .caller),
                ]), event: nil, now: world.clock.now)
        #expect(try world.store.tanHolder(tanHash: TAN.hash("kurz"))?.callID == odd.id)
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN("kurz", callID: odd.id, from: address) }
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN("kurz", callID: nil, from: address) }
    }

    @Test("the TAN with different case is a different TAN; spaces around it are forgiven")
    func exact() throws {
        let swapped = String(
            tan.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) })
        if swapped != tan {
            #expect(throws: Refusal.tanInvalid) {
                try world.callAccess.checkTAN(swapped, callID: call.id, from: address)
            }
        }
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN(tan + "x", callID: nil, from: address) }
        #expect(try world.callAccess.checkTAN(" \(tan)\n", callID: nil, from: address).call.id == call.id)
    }

    @Test("an unknown TAN is refused")
    func unknown() throws {
        var other = TAN.generate()
        while other == tan { other = TAN.generate() }
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN(other, callID: call.id, from: address) }
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN(other, callID: nil, from: address) }
    }

    @Test("a TAN opens only its own call")
    func wrongCall() throws {
        let other = try world.makeCall(by: world.doctorA)
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN(tan, callID: other.id, from: address) }
        #expect(throws: Refusal.tanInvalid) { try world.callAccess.checkTAN(tan, callID: 999_999, from: address) }
    }

    @Test("a TAN expires at tan_valid_until")
    func expired() throws {
        let until = try #require(patient.tanValidUntil)
        #expect(until == call.begin + 30 * 60 + 30 * 86_400)
        world.clock.advance(until - world.clock.now)
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: address).call.id == call.id)
        world.clock.advance(1)
        #expect(throws: Refusal.tanExpired) { try world.callAccess.checkTAN(tan, callID: call.id, from: address) }
        #expect(throws: Refusal.tanExpired) { try world.callAccess.checkTAN(tan, callID: nil, from: address) }
    }

    @Test("a TAN of an ended call is refused as ended")
    func endedCall() throws {
        let log = try world.callLogs.join(callID: call.id, userID: patient.userID, tan: tan)
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: address).call.status == .running)
        try world.callLogs.leave(logID: log.id)
        try world.callLogs.roomStayedEmpty(callID: call.id)
        #expect(throws: Refusal.callEnded) { try world.callAccess.checkTAN(tan, callID: call.id, from: address) }
        #expect(throws: Refusal.callEnded) { try world.callAccess.checkTAN(tan, callID: nil, from: address) }
    }

    @Test("guessing is throttled per address")
    func throttled() throws {
        let guesser = "198.51.100.66"
        for _ in 0..<5 {
            #expect(throws: Refusal.tanInvalid) {
                try world.callAccess.checkTAN(TAN.generate(), callID: nil, from: guesser)
            }
        }
        // Now even a right TAN is refused from that address, with a time to wait.
        let error = expectDomainError(.throttled) { try world.callAccess.checkTAN(tan, callID: nil, from: guesser) }
        let wait = try #require(error?.retryAfter)
        #expect(wait > 0 && wait <= 600)
        // One-time passwords from there too.
        expectDomainError(.throttled) {
            try world.callAccess.checkOneTimePassword(Crypto.randomAlphanumeric(96), callID: call.id, from: guesser)
        }
        // Other addresses are unaffected.
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: address).call.id == call.id)
        #expect(throws: Refusal.tanInvalid) {
            try world.callAccess.checkTAN(TAN.generate(), callID: nil, from: "198.51.100.67")
        }
        // After the wait the address may try again.
        world.clock.advance(Int64(wait))
        #expect(try world.callAccess.checkTAN(tan, callID: call.id, from: guesser).call.id == call.id)
    }

    @Test("wrong one-time passwords count as guesses as well")
    func otpGuessesCount() throws {
        let guesser = "198.51.100.70"
        for _ in 0..<5 {
            #expect(throws: Refusal.otpInvalid) {
                try world.callAccess.redeemOneTimePassword(
                    Crypto.randomAlphanumeric(96), callID: call.id, from: guesser)
            }
        }
        expectDomainError(.throttled) { try world.callAccess.checkTAN(tan, callID: nil, from: guesser) }
    }

    @Test("right answers do not count towards the limit")
    func successesDoNotCount() throws {
        for _ in 0..<20 {
            #expect(try world.callAccess.checkTAN(tan, callID: nil, from: address).call.id == call.id)
        }
        for _ in 0..<4 {
            #expect(throws: Refusal.tanInvalid) {
                try world.callAccess.checkTAN(TAN.generate(), callID: nil, from: address)
            }
        }
        #expect(try world.callAccess.checkTAN(tan, callID: nil, from: address).call.id == call.id)
    }
}
