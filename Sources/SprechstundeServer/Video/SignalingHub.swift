import Dispatch
import HTTPServer
import Sprechstunde

/// The signaling server of the video pages (docs/video.md): one `Room` per call, the sockets of
/// its pages, relaying of WebRTC offers, answers and candidates, presence, the waiting area,
/// call logs from real joins and leaves, and the call's planned time.
///
/// All state lives on one serial queue: socket callbacks arrive on the HTTP server's WebSocket
/// loop and hop here at once, so that the loop never waits for the database. The hub sees its
/// sockets only as `SignalingConnection`s, so that its rules are tested without a network.
public final class SignalingHub: WebSocketHandler, @unchecked Sendable {
    public struct Settings: Sendable {
        /// A page whose socket dropped without a goodbye may resume this long before it has left.
        public var resumeGrace: Int64 = 5
        /// After the planned end a call that is not `extendable` ends this much later.
        public var overtimeGrace: Int64 = 600
        /// A socket must say `hello` this soon.
        public var helloTimeout: Int64 = 10
        public init() {}
    }

    /// One page in a room (in the call or waiting).
    final class Peer {
        let peerID: String
        let admission: VideoEntryService.Admission
        var socket: (any SignalingConnection)?
        /// When the socket dropped without a goodbye; nil while connected.
        var lostAt: Int64?
        var logID: CallLog.ID?

        init(peerID: String, admission: VideoEntryService.Admission, socket: any SignalingConnection) {
            self.peerID = peerID
            self.admission = admission
            self.socket = socket
        }

        var callID: Call.ID { admission.call.id }
    }

    struct RoomState {
        var room: Room
        var call: Call
        var timeOverSent = false
    }

    enum Close {
        static let replaced: UInt16 = 4001
        static let callEnded: UInt16 = 4002
        static let declined: UInt16 = 4003
        static let sessionInvalid: UInt16 = 4004
        static let protocolError: UInt16 = 4000
    }

    let entry: VideoEntryService
    let callLogs: CallLogService
    let store: any Store
    let clock: Clock
    let settings: Settings
    let log: Log
    let queue = DispatchQueue(label: "sprechstunde.signaling")
    private var timer: DispatchSourceTimer?

    // Confined to `queue`.
    private var openedAt: [UInt64: (socket: any SignalingConnection, at: Int64)] = [:]
    private var peerOfSocket: [UInt64: String] = [:]
    private var peers: [String: Peer] = [:]
    private var rooms: [Call.ID: RoomState] = [:]
    private var ticks = 0

    init(
        entry: VideoEntryService, callLogs: CallLogService, store: any Store, clock: Clock, settings: Settings, log: Log
    ) {
        self.entry = entry
        self.callLogs = callLogs
        self.store = store
        self.clock = clock
        self.settings = settings
        self.log = log
    }

    /// Starts the once-a-second sweep (lost pages, planned time, calls ended elsewhere).
    func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.sweep() }
        timer.resume()
        self.timer = timer
    }

    // MARK: WebSocketHandler (called on the socket loop)

    public func webSocketDidOpen(_ socket: WebSocket) {
        queue.async { self.opened(socket) }
    }

    public func webSocket(_ socket: WebSocket, didReceiveText text: String) {
        queue.async { self.receive(text, from: socket) }
    }

    public func webSocketDidClose(_ socket: WebSocket, code: UInt16, reason: String) {
        queue.async { self.closed(socket, code: code) }
    }

    // MARK: messages (on `queue`)

    func opened(_ socket: any SignalingConnection) {
        openedAt[socket.id] = (socket, clock.now())
    }

    func receive(_ text: String, from socket: any SignalingConnection) {
        guard let message = try? JSON.parse(text), case .string(let type)? = message["type"] else {
            return send(socket, error: "bad-message", "Each message is a JSON object with a \"type\".")
        }
        guard let peerID = peerOfSocket[socket.id], let peer = peers[peerID] else {
            guard type == "hello" else {
                return send(socket, error: "hello-first", "Say hello with the session token first.")
            }
            return hello(message, socket: socket)
        }
        switch type {
        case "signal": relay(message, from: peer)
        case "admit", "decline": decide(admit: type == "admit", message, by: peer)
        case "leave":
            depart(peer, reason: "left")
            socket.close(code: 1000, reason: "left")
        case "hello": send(socket, error: "already-hello", "This socket has said hello already.")
        default: send(socket, error: "unknown-type", "Unknown message type \"\(type)\".")
        }
    }

    private func hello(_ message: JSON, socket: any SignalingConnection) {
        openedAt[socket.id] = nil
        guard case .string(let token)? = message["token"] else {
            return refuse(socket, code: "session-invalid", "hello needs the session token.")
        }
        let admission: VideoEntryService.Admission
        do {
            admission = try entry.session(token: token)
        } catch let refusal as CallAccessService.Refusal {
            return refuse(socket, code: refusal.rawValue, "You can no longer enter this call.")
        } catch {
            return refuse(socket, code: "session-invalid", "The video session is invalid or has expired.")
        }

        // A page that lost its socket comes back: the same peer, no new join.
        if case .string(let resumeID)? = message["peer_id"], let peer = peers[resumeID],
            peer.admission.session.id == admission.session.id
        {
            if let old = peer.socket, old.id != socket.id {
                peerOfSocket[old.id] = nil
                old.close(code: 1000, reason: "resumed elsewhere")
            }
            peer.socket = socket
            peer.lostAt = nil
            peerOfSocket[socket.id] = peer.peerID
            welcome(peer)
            return
        }

        let callID = admission.call.id
        // One presence per participant: a second page (or a second session of the same TAN)
        // replaces the first, which is told why.
        if let earlier = rooms[callID]?.room.presence(of: admission.participant.userID), let old = peers[earlier.peerID]
        {
            if let oldSocket = old.socket {
                send(oldSocket, ["type": "replaced"])
                oldSocket.close(code: Close.replaced, reason: "replaced by another page")
            }
            depart(old, reason: "replaced")
        }

        let peer = Peer(peerID: Crypto.randomAlphanumeric(16), admission: admission, socket: socket)
        peers[peer.peerID] = peer
        peerOfSocket[socket.id] = peer.peerID
        let member = Room.Member(
            peerID: peer.peerID, sessionID: admission.session.id, participant: admission.participant, since: clock.now()
        )
        var state = rooms[callID] ?? RoomState(room: Room(callID: callID), call: admission.call)
        state.call = admission.call
        let arrival = state.room.arrive(member, throughWaitingArea: admission.session.waitingArea)
        rooms[callID] = state
        if arrival == .waiting {
            welcome(peer)
            sendWaitingList(callID)
        } else if joinLog(peer) {
            welcome(peer)
            broadcast(callID, except: peer.peerID, joined(member))
            if member.isDoctor { sendWaitingStatus(callID) }
        }
    }

    private func welcome(_ peer: Peer) {
        guard let state = rooms[peer.callID], let socket = peer.socket else { return }
        let inCall = state.room.isInCall(peer.peerID)
        send(
            socket,
            [
                "type": "welcome", "peer_id": .string(peer.peerID),
                "self": Wire.videoParticipant(peer.admission.participant),
                "state": .string(inCall ? "in-call" : "waiting"),
                "participants": inCall ? members(state.room.inCall, except: peer.peerID) : [],
                "call": Wire.videoCall(state.call),
                // Waiting patients learn whether a doctor is there to let them in.
                "doctors_present": .bool(!state.room.doctorsInCall.isEmpty),
            ])
        if inCall && peer.admission.isDoctor { sendWaitingList(peer.callID, to: [peer]) }
        // Those who come after the planned end hear it too, not only those who were there.
        if state.timeOverSent { send(socket, timeOver(state.call)) }
    }

    private func relay(_ message: JSON, from peer: Peer) {
        guard let state = rooms[peer.callID], state.room.isInCall(peer.peerID) else {
            return send(peer.socket, error: "not-in-call", "Only pages in the call exchange signals.")
        }
        guard case .string(let to)? = message["to"], state.room.isInCall(to), let target = peers[to],
            let data = message["data"]
        else {
            return send(peer.socket, error: "no-such-peer", "signal needs \"to\" (a peer in the call) and \"data\".")
        }
        send(target.socket, ["type": "signal", "from": .string(peer.peerID), "data": data])
    }

    private func decide(admit: Bool, _ message: JSON, by doctor: Peer) {
        guard case .string(let peerID)? = message["peer_id"], var state = rooms[doctor.callID] else {
            return send(doctor.socket, error: "no-such-peer", "admit and decline need \"peer_id\".")
        }
        do {
            if admit {
                let (member, others) = try state.room.admit(peerID, by: doctor.peerID)
                rooms[doctor.callID] = state
                guard let patient = peers[member.peerID], joinLog(patient) else { return }
                send(patient.socket, ["type": "admitted", "participants": members(others, except: nil)])
                broadcast(doctor.callID, except: member.peerID, joined(member))
            } else {
                let member = try state.room.decline(peerID, by: doctor.peerID)
                rooms[doctor.callID] = state
                if let patient = peers.removeValue(forKey: member.peerID), let socket = patient.socket {
                    peerOfSocket[socket.id] = nil
                    send(socket, ["type": "declined"])
                    socket.close(code: Close.declined, reason: "declined")
                }
            }
            sendWaitingList(doctor.callID)
        } catch {
            let text =
                error == .notWaiting
                ? "Nobody with this peer_id is waiting." : "Only a doctor in the call admits or declines."
            send(doctor.socket, error: error == .notWaiting ? "not-waiting" : "forbidden", text)
        }
    }

    // MARK: arrivals and departures

    /// Opens the call log entry (the call is running from now on). False if the call cannot be entered.
    private func joinLog(_ peer: Peer) -> Bool {
        do {
            let entry = try callLogs.join(
                callID: peer.callID, userID: peer.admission.participant.userID, tan: peer.admission.session.tan)
            peer.logID = entry.id
            if rooms[peer.callID]?.call.status == .planned { rooms[peer.callID]?.call.status = .running }
            return true
        } catch {
            log.error("signaling: could not open a call log for call \(peer.callID): \(error)")
            if let socket = peer.socket {
                send(socket, error: "call-ended", "This call cannot be entered any more.")
                socket.close(code: Close.callEnded, reason: "call ended")
            }
            _ = rooms[peer.callID]?.room.depart(peer.peerID)
            forget(peer)
            return false
        }
    }

    func closed(_ socket: any SignalingConnection, code: UInt16) {
        openedAt[socket.id] = nil
        guard let peerID = peerOfSocket.removeValue(forKey: socket.id), let peer = peers[peerID],
            peer.socket?.id == socket.id
        else { return }
        peer.socket = nil
        // A page that closes properly (tab closed, navigated away) has left; anything else may
        // be a network blip, and the page gets `resumeGrace` seconds to come back.
        if code == 1000 || code == 1001 {
            depart(peer, reason: "left")
        } else {
            peer.lostAt = clock.now()
        }
    }

    /// Removes a page from its room, closes its call log entry and tells the others.
    private func depart(_ peer: Peer, reason: String) {
        forget(peer)
        guard var state = rooms[peer.callID], let departure = state.room.depart(peer.peerID) else { return }
        rooms[peer.callID] = state
        switch departure {
        case .leftCall(let member):
            if let logID = peer.logID {
                do { try callLogs.leave(logID: logID, at: peer.lostAt) } catch {
                    log.error("signaling: closing a call log failed: \(error)")
                }
            }
            broadcast(
                peer.callID, except: nil,
                [
                    "type": "participant-left", "peer_id": .string(member.peerID),
                    "participant": Wire.videoParticipant(member.participant), "reason": .string(reason),
                ])
            if member.isDoctor { sendWaitingStatus(peer.callID) }
        case .leftWaiting:
            sendWaitingList(peer.callID)
        }
        if state.room.isEmpty { rooms[peer.callID] = nil }
    }

    private func forget(_ peer: Peer) {
        peers[peer.peerID] = nil
        if let socket = peer.socket { peerOfSocket[socket.id] = nil }
    }

    // MARK: the sweep

    func sweep() {
        let now = clock.now()
        ticks += 1
        for (id, opened) in openedAt where now - opened.at >= settings.helloTimeout {
            openedAt[id] = nil
            opened.socket.close(code: Close.protocolError, reason: "hello expected")
        }
        for peer in peers.values {
            if let lostAt = peer.lostAt, now - lostAt >= settings.resumeGrace { depart(peer, reason: "vanished") }
        }
        // Signs of life for the call log, so that a killed process leaves entries that the
        // maintenance closes at the last one.
        if ticks % 10 == 0 {
            for peer in peers.values where peer.socket != nil {
                if let logID = peer.logID { try? callLogs.stillThere(logID: logID) }
            }
            endRevokedSessions(now: now)
        }
        if ticks % 5 == 0 {
            for callID in Array(rooms.keys) { checkTime(callID, now: now) }
        }
    }

    /// Pages whose session was ended meanwhile (account locked or deleted, new password,
    /// company deleted) leave the call; their page shows why.
    private func endRevokedSessions(now: Int64) {
        for peer in Array(peers.values) {
            guard (try? store.videoSessionIsLive(id: peer.admission.session.id, now: now)) == false else { continue }
            if let socket = peer.socket {
                send(socket, error: "session-invalid", "Your session has ended; please sign in again.")
                socket.close(code: Close.sessionInvalid, reason: "session ended")
            }
            depart(peer, reason: "session ended")
        }
    }

    /// The planned time, and calls ended or deleted through the API.
    private func checkTime(_ callID: Call.ID, now: Int64) {
        guard let state = rooms[callID] else { return }
        let call: Call
        do {
            guard let current = try store.call(id: callID), current.status != .ended else { return endRoom(callID) }
            call = current
        } catch {
            return
        }
        rooms[callID]?.call = call
        guard now >= call.plannedEnd else { return }
        if !state.timeOverSent {
            rooms[callID]?.timeOverSent = true
            broadcast(callID, except: nil, timeOver(call), includeWaiting: true)
        }
        if call.extendable != true && now >= call.plannedEnd + settings.overtimeGrace {
            endRoom(callID)
            do { try callLogs.endCall(callID: callID) } catch { log.error("signaling: ending call failed: \(error)") }
        }
    }

    private func timeOver(_ call: Call) -> JSON {
        [
            "type": "time-over", "ends_at": .int(call.plannedEnd), "extendable": .bool(call.extendable == true),
            // When the server will end it: nil for an extendable call.
            "closes_at": call.extendable == true ? .null : .int(call.plannedEnd + settings.overtimeGrace),
        ]
    }

    /// Everyone out: the call has ended (or was deleted).
    private func endRoom(_ callID: Call.ID) {
        guard var state = rooms.removeValue(forKey: callID) else { return }
        for member in state.room.removeAll() {
            guard let peer = peers[member.peerID] else { continue }
            if let logID = peer.logID { try? callLogs.leave(logID: logID) }
            if let socket = peer.socket {
                send(socket, ["type": "call-ended"])
                socket.close(code: Close.callEnded, reason: "call ended")
            }
            forget(peer)
        }
    }

    // MARK: sending

    private func members(_ members: [Room.Member], except peerID: String?) -> JSON {
        .array(
            members.filter { $0.peerID != peerID }.map {
                ["peer_id": .string($0.peerID), "participant": Wire.videoParticipant($0.participant)]
            })
    }

    private func joined(_ member: Room.Member) -> JSON {
        [
            "type": "participant-joined", "peer_id": .string(member.peerID),
            "participant": Wire.videoParticipant(member.participant),
        ]
    }

    private func sendWaitingList(_ callID: Call.ID, to only: [Peer]? = nil) {
        guard let state = rooms[callID] else { return }
        let entries: JSON = .array(
            state.room.waiting.map {
                [
                    "peer_id": .string($0.peerID), "participant": Wire.videoParticipant($0.participant),
                    "since": .int($0.since),
                ]
            })
        let doctors = only ?? state.room.doctorsInCall.compactMap { peers[$0.peerID] }
        for doctor in doctors { send(doctor.socket, ["type": "waiting-list", "entries": entries]) }
    }

    /// Tells the waiting patients whether a doctor is in the call now.
    private func sendWaitingStatus(_ callID: Call.ID) {
        guard let state = rooms[callID] else { return }
        let message: JSON = ["type": "waiting-status", "doctors_present": .bool(!state.room.doctorsInCall.isEmpty)]
        for member in state.room.waiting { send(peers[member.peerID]?.socket, message) }
    }

    private func broadcast(_ callID: Call.ID, except: String?, _ message: JSON, includeWaiting: Bool = false) {
        guard let state = rooms[callID] else { return }
        let members = state.room.inCall + (includeWaiting ? state.room.waiting : [])
        let text = String(decoding: message.serialized(), as: UTF8.self)
        for member in members where member.peerID != except {
            peers[member.peerID]?.socket?.send(text: text)
        }
    }

    private func send(_ socket: (any SignalingConnection)?, _ message: JSON) {
        socket?.send(text: String(decoding: message.serialized(), as: UTF8.self))
    }

    private func send(_ socket: (any SignalingConnection)?, error code: String, _ text: String) {
        send(socket, ["type": "error", "code": .string(code), "message": .string(text)])
    }

    /// A fatal refusal: tell, then close.
    private func refuse(_ socket: any SignalingConnection, code: String, _ text: String) {
        send(socket, error: code, text)
        socket.close(code: Close.sessionInvalid, reason: code)
    }
}

/// What the hub needs of a socket: `WebSocket` in the server, a recorder in tests.
protocol SignalingConnection: AnyObject, Sendable {
    var id: UInt64 { get }
    func send(text: String)
    func close(code: UInt16, reason: String)
}

extension WebSocket: SignalingConnection {}
