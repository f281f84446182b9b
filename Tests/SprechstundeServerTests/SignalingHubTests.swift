import Foundation
import HTTPServer
import Sprechstunde
import SprechstundeSQLite
import Synchronization
import Testing

@testable import SprechstundeServer

/// A socket that records what the hub sends it.
final class RecordedConnection: SignalingConnection {
    struct Record {
        var messages: [JSON] = []
        var close: (code: UInt16, reason: String)?
    }

    static let ids = Atomic<UInt64>(1)
    let id = RecordedConnection.ids.wrappingAdd(1, ordering: .relaxed).oldValue
    let record = Mutex(Record())

    func send(text: String) {
        guard let message = try? JSON.parse(text) else {
            Issue.record("the hub sent text that is not JSON: \(text)")
            return
        }
        record.withLock { $0.messages.append(message) }
    }

    func close(code: UInt16, reason: String) {
        record.withLock { if $0.close == nil { $0.close = (code, reason) } }
    }

    var messages: [JSON] { record.withLock { $0.messages } }
    var types: [String] { messages.compactMap { $0["type"]?.stringValue } }
    var closeCode: UInt16? { record.withLock { $0.close?.code } }
    func last(_ type: String) -> JSON? { messages.last { $0["type"]?.stringValue == type } }
}

extension JSON {
    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The first element of a list.
    var first: JSON? {
        if case .array(let elements) = self { return elements.first }
        return nil
    }
}

/// The signaling hub's rules, driven through recorded connections and a clock moved by hand
/// (the WebSocket framing itself is tested against the real server in tests/e2e).
@Suite("SignalingHub: presence, waiting area, resume, replacement, time")
struct SignalingHubTests {
    final class Time: Sendable {
        let seconds = Atomic<Int64>(1_800_000_000)
        var clock: Clock { Clock { [self] in seconds.load(ordering: .relaxed) } }
        func advance(_ delta: Int64) { seconds.add(delta, ordering: .relaxed) }
    }

    let time = Time()
    let application: Application
    let hub: SignalingHub
    let callID: Int64
    let tan: String
    let doctorEmail = "doc@praxis.example"
    let password = "secret-password"

    init() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString).sqlite")
            .path
        let store = try SQLiteStore(path: path)
        var settings = Application.Settings()
        settings.auth.passwordCost = .minimal
        settings.signaling.overtimeGrace = 60
        application = Application(store: store, settings: settings, clock: time.clock, log: .discard)
        hub = application.signaling
        let provisioning = Provisioning(store: store, passwordCost: .minimal)
        let companyID = try provisioning.createCompany(name: "Praxis").id
        _ = try provisioning.createUser(
            name: "Dora Doktor", email: doctorEmail, password: password, role: .doc, companyID: companyID)
        let token = try application.auth.signIn(email: doctorEmail, password: password, from: "127.0.0.1").value
        let body = """
            {"duration": 30, "call_type": "tan", "tan_username": "Paula Patientin", "extendable": false}
            """
        let response = application.handle(
            Request(
                method: "POST", path: "/api/v2/calls", queryItems: [],
                headers: ["content-type": "application/json", "authorization": "Bearer \(token)"],
                body: Array(body.utf8)))
        let call = try #require(try JSON.parse(response.body)["data"], "call creation: \(response.status)")
        callID = try #require(call["id"].flatMap { if case .int(let id) = $0 { id } else { nil } })
        guard case .array(let users)? = call["users"],
            let patient = users.first(where: { $0["role_name"]?.stringValue == "tanuser" }),
            let tan = patient["tan"]?.stringValue
        else { throw TestFailure("the call has no TAN user") }
        self.tan = tan
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: helpers

    func doctorSession() throws -> String {
        try #require(
            try application.video.enter(
                .password(email: doctorEmail, password: password, callID: callID), from: "127.0.0.1"
            ).token)
    }

    func patientSession(waitingArea: Bool) throws -> String {
        try #require(
            try application.video.enter(.tan(tan, callID: waitingArea ? nil : callID), from: "127.0.0.1").token)
    }

    /// Opens a connection and says hello; returns it with its peer id.
    func connect(_ token: String, resuming peerID: String? = nil) -> (RecordedConnection, String?) {
        let connection = RecordedConnection()
        var hello: [(String, JSON)] = [("type", "hello"), ("token", .string(token))]
        if let peerID { hello.append(("peer_id", .string(peerID))) }
        hub.queue.sync {
            hub.opened(connection)
            hub.receive(String(decoding: JSON.object(hello).serialized(), as: UTF8.self), from: connection)
        }
        return (connection, connection.last("welcome")?["peer_id"]?.stringValue)
    }

    func say(_ connection: RecordedConnection, _ message: JSON) {
        hub.queue.sync { hub.receive(String(decoding: message.serialized(), as: UTF8.self), from: connection) }
    }

    func drop(_ connection: RecordedConnection, code: UInt16 = 1006) {
        hub.queue.sync { hub.closed(connection, code: code) }
    }

    func sweep(after seconds: Int64) {
        for _ in 0..<seconds {
            time.advance(1)
            hub.queue.sync { hub.sweep() }
        }
    }

    func logs() throws -> [CallLog] {
        try application.store.callLogs(CallLogQuery(callID: callID)).items
    }

    func callStatus() throws -> CallStatus? { try application.store.call(id: callID)?.status }

    // MARK: tests

    @Test("a patient who comes before the doctor waits; the doctor sees the waiting list and admits")
    func waitingThenAdmitted() throws {
        let (patient, patientPeer) = connect(try patientSession(waitingArea: true))
        #expect(patient.last("welcome")?["state"]?.stringValue == "waiting")
        #expect(patient.last("welcome")?["doctors_present"] == .bool(false))
        #expect(try callStatus() == .planned)

        let (doctor, doctorPeer) = connect(try doctorSession())
        #expect(doctor.last("welcome")?["state"]?.stringValue == "in-call")
        #expect(doctor.last("welcome")?["participants"] == .array([]), "the waiting patient is not in the call")
        let list = try #require(doctor.last("waiting-list")?["entries"])
        #expect(list.first?["peer_id"]?.stringValue == patientPeer)
        #expect(!doctor.types.contains("participant-joined"))
        #expect(patient.last("waiting-status")?["doctors_present"] == .bool(true), "told that a doctor came")
        #expect(try logs().count == 1, "only the doctor has joined")

        say(doctor, ["type": "admit", "peer_id": .string(try #require(patientPeer))])
        let admitted = try #require(patient.last("admitted"))
        #expect(admitted["participants"]?.first?["peer_id"]?.stringValue == doctorPeer)
        #expect(doctor.last("participant-joined")?["peer_id"]?.stringValue == patientPeer)
        #expect(doctor.last("waiting-list")?["entries"] == .array([]))
        #expect(try logs().map(\.end) == [nil, nil])
        #expect(try logs().contains { $0.tan == tan })
        #expect(try callStatus() == .running)
    }

    @Test("a patient straight in joins at once; signals are relayed between peers in the call only")
    func straightInAndRelay() throws {
        let (doctor, doctorPeer) = connect(try doctorSession())
        let (patient, patientPeer) = connect(try patientSession(waitingArea: false))
        #expect(patient.last("welcome")?["state"]?.stringValue == "in-call")
        #expect(patient.last("welcome")?["participants"]?.first?["peer_id"]?.stringValue == doctorPeer)

        let data: JSON = ["description": ["type": "offer", "sdp": "v=0"]]
        say(patient, ["type": "signal", "to": .string(try #require(doctorPeer)), "data": data])
        let relayed = try #require(doctor.last("signal"))
        #expect(relayed["from"]?.stringValue == patientPeer)
        #expect(relayed["data"] == data)

        say(patient, ["type": "signal", "to": "nobody", "data": data])
        #expect(patient.last("error")?["code"]?.stringValue == "no-such-peer")
    }

    @Test("only doctors admit: a patient's admit is refused")
    func patientCannotAdmit() throws {
        let (patient, _) = connect(try patientSession(waitingArea: false))
        say(patient, ["type": "admit", "peer_id": "x"])
        #expect(patient.last("error")?["code"]?.stringValue == "forbidden")
    }

    @Test("waiting patients stay when the doctor leaves; the next doctor sees them")
    func doctorLeavesPatientStays() throws {
        let (doctor, _) = connect(try doctorSession())
        let (patient, patientPeer) = connect(try patientSession(waitingArea: true))
        #expect(patient.last("welcome")?["doctors_present"] == .bool(true))
        say(doctor, ["type": "leave"])
        #expect(doctor.closeCode == 1000)
        #expect(patient.closeCode == nil)
        #expect(patient.last("waiting-status")?["doctors_present"] == .bool(false), "told that the doctor left")
        let (doctorAgain, _) = connect(try doctorSession())
        #expect(doctorAgain.last("waiting-list")?["entries"]?.first?["peer_id"]?.stringValue == patientPeer)
    }

    @Test("a dropped socket resumes within the grace: same peer, no departure, no new log entry")
    func resume() throws {
        let token = try doctorSession()
        let (doctor, doctorPeer) = connect(token)
        let (patient, _) = connect(try patientSession(waitingArea: false))
        drop(doctor)
        sweep(after: 2)
        let (again, resumedPeer) = connect(token, resuming: doctorPeer)
        #expect(resumedPeer == doctorPeer)
        #expect(again.last("welcome")?["state"]?.stringValue == "in-call")
        sweep(after: 10)
        #expect(!patient.types.contains("participant-left"))
        #expect(try logs().count == 2)
        #expect(try logs().allSatisfy { $0.end == nil })
    }

    @Test("a socket lost for longer than the grace has vanished; its log closes when it was lost")
    func vanished() throws {
        let (doctor, _) = connect(try doctorSession())
        let (patient, patientPeer) = connect(try patientSession(waitingArea: false))
        sweep(after: 3)
        let lostAt = time.seconds.load(ordering: .relaxed)
        drop(patient)
        sweep(after: 6)
        let left = try #require(doctor.last("participant-left"))
        #expect(left["peer_id"]?.stringValue == patientPeer)
        #expect(left["reason"]?.stringValue == "vanished")
        let patientLog = try #require(try logs().first { $0.tan == tan })
        #expect(patientLog.end == lostAt)
    }

    @Test("a second session of the same TAN replaces the first, which is told why")
    func replaced() throws {
        let (doctor, _) = connect(try doctorSession())
        let (first, firstPeer) = connect(try patientSession(waitingArea: false))
        let (second, secondPeer) = connect(try patientSession(waitingArea: false))
        #expect(first.types.contains("replaced"))
        #expect(first.closeCode == 4001)
        #expect(second.last("welcome")?["state"]?.stringValue == "in-call")
        #expect(firstPeer != secondPeer)
        #expect(doctor.last("participant-left")?["reason"]?.stringValue == "replaced")
        #expect(doctor.last("participant-joined")?["peer_id"]?.stringValue == secondPeer)
    }

    @Test("no hello in time, a bad token, or a message before hello: refused")
    func helloRules() throws {
        let silent = RecordedConnection()
        hub.queue.sync { hub.opened(silent) }
        sweep(after: 10)
        #expect(silent.closeCode == 4000)

        let (bad, peer) = connect("not-a-session-token")
        #expect(peer == nil)
        #expect(bad.last("error")?["code"]?.stringValue == "session-invalid")
        #expect(bad.closeCode == 4004)

        let early = RecordedConnection()
        say(early, ["type": "signal", "to": "x", "data": [:]])
        #expect(early.last("error")?["code"]?.stringValue == "hello-first")
        say(early, "not an object")
        #expect(early.last("error")?["code"]?.stringValue == "bad-message")
    }

    @Test("declined patients are told and closed with 4003")
    func declined() throws {
        let (doctor, _) = connect(try doctorSession())
        let (patient, patientPeer) = connect(try patientSession(waitingArea: true))
        say(doctor, ["type": "decline", "peer_id": .string(try #require(patientPeer))])
        #expect(patient.types.contains("declined"))
        #expect(patient.closeCode == 4003)
        #expect(try logs().count == 1)
    }

    @Test("past the planned end: time-over, then the call ends after the overtime grace")
    func plannedTimeRunsOut() throws {
        let (doctor, _) = connect(try doctorSession())
        let (patient, _) = connect(try patientSession(waitingArea: false))
        time.advance(30 * 60)
        sweep(after: 5)
        #expect(doctor.last("time-over")?["extendable"] == .bool(false))
        guard case .int(let endsAt)? = doctor.last("time-over")?["ends_at"],
            case .int(let closesAt)? = doctor.last("time-over")?["closes_at"]
        else {
            Issue.record("time-over without ends_at and closes_at")
            return
        }
        #expect(closesAt > endsAt)
        #expect(patient.types.contains("time-over"))
        #expect(doctor.closeCode == nil)
        // Who comes after the planned end (here the patient again, on another device) hears it
        // with the welcome.
        let (late, _) = connect(try patientSession(waitingArea: false))
        #expect(patient.closeCode == 4001)
        #expect(late.types.suffix(2) == ["welcome", "time-over"])
        #expect(late.last("time-over")?["closes_at"] == .int(closesAt))
        sweep(after: 60)
        #expect(doctor.types.contains("call-ended"))
        #expect(doctor.closeCode == 4002)
        #expect(late.closeCode == 4002)
        #expect(try callStatus() == .ended)
        #expect(try logs().allSatisfy { $0.end != nil })
    }
}
