import Testing

@testable import Sprechstunde

@Suite("Room: the waiting area and presence rules")
struct RoomTests {
    static func member(_ peer: String, user: User.ID, role: ParticipantRole, session: VideoSession.ID = 1)
        -> Room.Member
    {
        var participant = CallParticipant(userID: user, role: role)
        participant.name = peer
        return Room.Member(peerID: peer, sessionID: session, participant: participant, since: 100)
    }

    let doctor = member("doc", user: 1, role: .caller, session: 10)
    let patient = member("pat", user: 2, role: .tanuser, session: 20)
    let relative = member("rel", user: 3, role: .tanuser, session: 30)

    @Test("a patient who arrives before the doctor waits and is not let in when the doctor comes")
    func noAutomaticAdmission() throws {
        var room = Room(callID: 1)
        #expect(room.arrive(patient, throughWaitingArea: true) == .waiting)
        #expect(room.arrive(doctor, throughWaitingArea: false) == .inCall(others: []))
        #expect(room.waiting.map(\.peerID) == ["pat"])
        #expect(room.inCall.map(\.peerID) == ["doc"])
    }

    @Test("a doctor admits; the patient joins those already in the call")
    func admit() throws {
        var room = Room(callID: 1)
        _ = room.arrive(doctor, throughWaitingArea: false)
        _ = room.arrive(patient, throughWaitingArea: true)
        let (admitted, others) = try room.admit("pat", by: "doc")
        #expect(admitted.peerID == "pat")
        #expect(others.map(\.peerID) == ["doc"])
        #expect(room.waiting.isEmpty)
        #expect(room.isInCall("pat"))
    }

    @Test("only a doctor in the call admits or declines, and only waiting pages")
    func whoMayAdmit() throws {
        var room = Room(callID: 1)
        _ = room.arrive(patient, throughWaitingArea: true)
        _ = room.arrive(relative, throughWaitingArea: false)
        #expect(throws: Room.Refusal.onlyDoctorsInTheCall) { try room.admit("pat", by: "rel") }
        #expect(throws: Room.Refusal.onlyDoctorsInTheCall) { try room.admit("pat", by: "doc") }
        _ = room.arrive(doctor, throughWaitingArea: false)
        #expect(throws: Room.Refusal.notWaiting) { try room.admit("rel", by: "doc") }
        #expect(throws: Room.Refusal.notWaiting) { try room.decline("nobody", by: "doc") }
        #expect(try room.decline("pat", by: "doc").peerID == "pat")
        #expect(room.waiting.isEmpty)
    }

    @Test("waiting patients stay when the doctor leaves; the next doctor sees them")
    func doctorLeaves() throws {
        var room = Room(callID: 1)
        _ = room.arrive(doctor, throughWaitingArea: false)
        _ = room.arrive(patient, throughWaitingArea: true)
        #expect(room.depart("doc") == .leftCall(doctor))
        #expect(room.waiting.map(\.peerID) == ["pat"])
        let second = Self.member("doc2", user: 4, role: .callee, session: 40)
        #expect(room.arrive(second, throughWaitingArea: false) == .inCall(others: []))
        #expect(room.doctorsInCall.map(\.peerID) == ["doc2"])
        _ = try room.admit("pat", by: "doc2")
    }

    @Test("an admitted session goes straight back in after a reload")
    func admittedSessionReturns() throws {
        var room = Room(callID: 1)
        _ = room.arrive(doctor, throughWaitingArea: false)
        _ = room.arrive(patient, throughWaitingArea: true)
        _ = try room.admit("pat", by: "doc")
        _ = room.depart("pat")
        var reloaded = patient
        reloaded.peerID = "pat-2"
        #expect(room.arrive(reloaded, throughWaitingArea: true) == .inCall(others: [doctor]))
        // Another session of the same TAN (a new link opened) still waits.
        var other = patient
        other.peerID = "pat-3"
        other.sessionID = 99
        _ = room.depart("pat-2")
        #expect(room.arrive(other, throughWaitingArea: true) == .waiting)
    }

    @Test("one presence per participant: the earlier page is found for replacement")
    func presence() {
        var room = Room(callID: 1)
        _ = room.arrive(patient, throughWaitingArea: false)
        #expect(room.presence(of: 2)?.peerID == "pat")
        #expect(room.presence(of: 1) == nil)
        #expect(room.depart("pat") == .leftCall(patient))
        #expect(room.depart("pat") == nil)
        #expect(room.isEmpty)
    }
}

@Suite("TURN REST credentials")
struct TurnCredentialTests {
    @Test("HMAC-SHA1 of the username under the shared secret, base64 (RFC 2202 test case 2)")
    func knownAnswer() {
        // RFC 2202: HMAC-SHA1("Jefe", "what do ya want for nothing?") = effcdf6ae5eb2fa2d27416d5f184df9c259a7c79
        #expect(
            IceConfiguration.turnPassword(secret: "Jefe", username: "what do ya want for nothing?")
                == "7/zfauXrL6LSdBbV8YTfnCWafHk=")
    }

    @Test("the username carries the expiry and the session; lifetime capped at 24 h")
    func servers() {
        var ice = IceConfiguration()
        ice.stunURLs = ["stun:stun.example:3478"]
        ice.turnURLs = ["turn:turn.example:3478"]
        ice.turnSecret = "geheim"
        ice.turnCredentialLifetime = 7 * 24 * 3600
        let servers = ice.servers(forSession: 42, now: 1000)
        #expect(servers.count == 2)
        #expect(servers[0] == IceConfiguration.Server(urls: ["stun:stun.example:3478"]))
        #expect(servers[1].username == "\(1000 + 24 * 3600):s42")
        #expect(
            servers[1].credential == IceConfiguration.turnPassword(secret: "geheim", username: servers[1].username!))
    }

    @Test("no TURN server without a secret")
    func noSecret() {
        var ice = IceConfiguration()
        ice.turnURLs = ["turn:turn.example:3478"]
        #expect(ice.servers(forSession: 1, now: 0).isEmpty)
    }

    @Test("base64 encoding round-trips all lengths")
    func base64() {
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) & 0xFF) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foob".utf8)) == "Zm9vYg==")
    }
}

@Suite("VideoEntryService: sessions from TANs, one-time passwords and passwords")
struct VideoEntryTests {
    let world: World
    let video: VideoEntryService
    let call: Call
    let address = "198.51.100.7"

    init() throws {
        world = try World()
        video = VideoEntryService(
            store: world.store, clock: world.clock.clock, access: world.callAccess, auth: world.auth)
        call = try world.makeCall(by: world.doctorA)
    }

    @Test("a TAN through the waiting area gives a waiting session that a reload finds again")
    func tanSession() throws {
        let tan = try #require(try world.tanParticipant(call).tan)
        let admission = try video.enter(.tan(tan, callID: nil), from: address)
        #expect(admission.session.waitingArea)
        #expect(admission.session.tan == tan)
        #expect(!admission.isDoctor)
        let again = try video.session(token: admission.token)
        #expect(again.session == admission.session)
        #expect(again.token == nil)
        let straight = try video.enter(.tan(tan, callID: call.id), from: address)
        #expect(!straight.session.waitingArea)
    }

    @Test("a TAN of another call is refused on /video/{otherId}")
    func wrongCall() throws {
        let tan = try #require(try world.tanParticipant(call).tan)
        let other = try world.makeCall(by: world.doctorA)
        #expect(throws: CallAccessService.Refusal.tanInvalid) {
            try video.enter(.tan(tan, callID: other.id), from: address)
        }
    }

    @Test("password sign-in admits only ak users taking part in the call")
    func password() throws {
        let admission = try video.enter(
            .password(email: world.doctorA.email!, password: World.password, callID: call.id), from: address)
        #expect(admission.isDoctor)
        expectDomainError(.forbidden) {
            try video.enter(
                .password(email: world.doctorA2.email!, password: World.password, callID: call.id), from: address)
        }
        expectDomainError(.unauthenticated) {
            try video.enter(.password(email: world.doctorA.email!, password: "falsch", callID: call.id), from: address)
        }
    }

    @Test("whether a call exists, ended or was deleted is told only to its participants")
    func noOracleForOutsiders() throws {
        let deleted = try world.makeCall(by: world.doctorA)
        try world.calls.delete(as: world.principal(world.doctorA), id: deleted.id)
        for id in [call.id, deleted.id, 999_999] {
            expectDomainError(.forbidden) {
                try video.enter(
                    .password(email: world.adminB.email!, password: World.password, callID: id), from: address)
            }
        }
        #expect(throws: CallAccessService.Refusal.callDeleted) {
            try video.enter(
                .password(email: world.doctorA.email!, password: World.password, callID: deleted.id), from: address)
        }
    }

    @Test("consent is recorded for the TAN user")
    func consent() throws {
        let tan = try #require(try world.tanParticipant(call).tan)
        let admission = try video.enter(.tan(tan, callID: nil), from: address)
        let after = try video.recordConsent(token: admission.token, dataAgreed: true, descriptionsAgreed: false)
        #expect(after.participant.dataAgreed)
        let reloaded = try video.session(token: admission.token)
        #expect(reloaded.participant.dataAgreed)
    }

    @Test("unknown and expired session tokens are refused")
    func expired() throws {
        expectDomainError(.unauthenticated) { try video.session(token: "nope") }
        let tan = try #require(try world.tanParticipant(call).tan)
        let admission = try video.enter(.tan(tan, callID: call.id), from: address)
        world.clock.advance(13 * 3600)
        expectDomainError(.unauthenticated) { try video.session(token: admission.token) }
    }
}
