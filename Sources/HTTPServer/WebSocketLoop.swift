import CMicroHTTPD
import CWslay
import Glibc
import Synchronization

/// Nanoseconds on the monotonic clock.
private func monotonicNow() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }
}

/// Makes `MHD_upgrade_action(CLOSE)` on the WebSocket loop thread safe against libmicrohttpd
/// freeing the same connection on its worker thread.
///
/// libmicrohttpd 0.9.75 (Debian 12) closes an upgraded connection in two steps that are not
/// atomic: it sets `urh->was_closed`, then calls `MHD_resume_connection(connection)`, which
/// writes to the connection. Over TLS the worker thread that owns the connection has usually
/// already finished its forwarding (`clean_ready`, and `connection->resuming` set) when the
/// application closes: the peer went away, or the loop half-closed the socket pair. Between
/// the two steps, that worker can then see `was_closed`, move the connection to its cleanup
/// list and free it, and `MHD_resume_connection` writes into freed memory: heap corruption
/// ("malloc(): mismatching next->prev_size", "corrupted size vs. prev_size") when many TLS
/// WebSockets close at once. (Fixed upstream in 0.9.77 by setting `was_closed` under the
/// daemon's lock.)
///
/// The worker frees a connection only after its `MHD_OPTION_NOTIFY_CONNECTION` callback
/// (`MHD_CONNECTION_NOTIFY_CLOSED`) has returned, and that callback waits for this lock, which
/// the loop holds for the whole `MHD_upgrade_action` call. The lock is never held while
/// libmicrohttpd holds one of its own, so there is no lock-order problem.
///
/// The gate also owns the TLS relay buffers that `mhd_shim_widen_tls_relay` (shim.h) gives
/// upgraded connections, keyed by connection address, and frees each when its connection is.
final class UpgradeCloseGate: Sendable {
    /// Relay buffers by connection, both as addresses.
    private let lock = Mutex([UInt: UInt]())

    /// Hands an upgraded connection back to libmicrohttpd (from any thread but the worker's).
    /// Over TLS, `appSocket` is the application's end of libmicrohttpd's socket pair: see
    /// `mhd_shim_close_tls_upgrade` (shim.h).
    func close(_ urh: OpaquePointer, tlsAppSocket appSocket: Int32?) {
        lock.withLock { _ in
            if let appSocket {
                _ = mhd_shim_close_tls_upgrade(urh, appSocket)
            } else {
                _ = mhd_shim_upgrade_close(urh)
            }
        }
    }

    /// Gives an upgraded TLS connection a relay buffer of `size` bytes, if libmicrohttpd needs
    /// one (0.9.75 only); called from the upgrade handler.
    func widenTLSRelay(_ urh: OpaquePointer, of connection: OpaquePointer, appSocket: Int32, size: Int) {
        guard let buffer = mhd_shim_widen_tls_relay(urh, connection, appSocket, size) else { return }
        lock.withLock { $0[UInt(bitPattern: Int(bitPattern: connection))] = UInt(bitPattern: buffer) }
    }

    /// Called on the worker thread just before libmicrohttpd frees a connection.
    func connectionWillBeFreed(_ connection: OpaquePointer?) {
        let buffer = lock.withLock { buffers in
            connection.flatMap { buffers.removeValue(forKey: UInt(bitPattern: Int(bitPattern: $0))) }
        }
        if let buffer { free(UnsafeMutableRawPointer(bitPattern: buffer)) }
    }
}

/// The single thread that serves every upgraded connection of a server: one epoll set, a wslay
/// event context per socket, and an eventfd through which other threads hand over new
/// sockets, outgoing messages and close requests.
final class WebSocketLoop: @unchecked Sendable {
    struct Limits: Sendable {
        var maximumMessageBytes: Int
        var pingInterval: UInt64
        var idleTimeout: UInt64
        var closeTimeout: UInt64
        var messagesPerSecond: Double
        var messageBurst: Double
        var maximumQueuedBytes: Int
    }

    /// State shared with other threads, behind `shared`.
    struct Shared: ~Copyable {
        var incoming: [WebSocketConnection] = []
        var scheduled: [WebSocket] = []
        var stopping = false
    }

    let limits: Limits
    let closeGate: UpgradeCloseGate
    let shared = Mutex(Shared())
    private let nextID = Atomic<UInt64>(1)
    private let epollFD: Int32
    private let wakeFD: Int32
    private var thread: pthread_t?
    /// Loop thread only.
    private var connections: [UInt64: WebSocketConnection] = [:]
    private let tick: UInt64

    init(limits: Limits, closeGate: UpgradeCloseGate) throws(Server.StartError) {
        self.limits = limits
        self.closeGate = closeGate
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = mhd_shim_eventfd()
        // Timers (pings, idle and close deadlines) are checked on a tick a fraction of the
        // shortest interval, between 10 ms and 500 ms.
        let shortest = min(limits.pingInterval, limits.idleTimeout, limits.closeTimeout)
        tick = min(max(shortest / 5, 10_000_000), 500_000_000)
        guard epollFD >= 0, wakeFD >= 0,
            mhd_shim_epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, EPOLLIN.rawValue, 0) == 0
        else {
            throw Server.StartError(description: "cannot create the WebSocket event loop: \(errno)")
        }
    }

    deinit {
        close(epollFD)
        close(wakeFD)
    }

    func start() throws(Server.StartError) {
        var handle = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &handle, nil,
            { context in
                let loop = Unmanaged<WebSocketLoop>.fromOpaque(context!).takeRetainedValue()
                loop.run()
                return nil
            }, context)
        guard status == 0 else {
            Unmanaged<WebSocketLoop>.fromOpaque(context).release()
            throw Server.StartError(description: "cannot start the WebSocket thread: \(status)")
        }
        thread = handle
    }

    /// Closes every socket (code 1001), calls their handlers' `webSocketDidClose` and ends the
    /// thread. Sockets upgraded afterwards are closed at once.
    func stop() {
        guard let thread else { return }
        shared.withLock { $0.stopping = true }
        mhd_shim_eventfd_signal(wakeFD)
        pthread_join(thread, nil)
        self.thread = nil
    }

    func makeID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Called on a libmicrohttpd thread with a freshly upgraded socket.
    func adopt(_ connection: WebSocketConnection) {
        let accepted = shared.withLock { shared -> Bool in
            if shared.stopping { return false }
            shared.incoming.append(connection)
            return true
        }
        if accepted {
            mhd_shim_eventfd_signal(wakeFD)
        } else {
            connection.release()
        }
    }

    /// A socket has messages or a close request waiting.
    func schedule(_ socket: WebSocket) {
        let first = shared.withLock { shared -> Bool in
            shared.scheduled.append(socket)
            return shared.scheduled.count == 1
        }
        if first { mhd_shim_eventfd_signal(wakeFD) }
    }

    // MARK: The loop thread

    private func run() {
        let capacity = 256
        var tokens = [UInt64](repeating: 0, count: capacity)
        var events = [UInt32](repeating: 0, count: capacity)
        var nextSweep = monotonicNow() + tick
        while true {
            let now = monotonicNow()
            let timeout = nextSweep > now ? Int32(min((nextSweep - now) / 1_000_000 + 1, 1000)) : 0
            let count = mhd_shim_epoll_wait(epollFD, &tokens, &events, Int32(capacity), timeout)
            for index in 0..<max(0, Int(count)) {
                if tokens[index] == 0 {
                    mhd_shim_eventfd_drain(wakeFD)
                    continue
                }
                if let connection = connections[tokens[index]] {
                    service(connection, events: events[index])
                }
            }
            if takeHandovers() { break }
            if monotonicNow() >= nextSweep {
                sweep()
                nextSweep = monotonicNow() + tick
            }
        }
    }

    /// Registers new sockets and carries out queued sends and closes. True when stopping.
    private func takeHandovers() -> Bool {
        let (incoming, scheduled, stopping) = shared.withLock { shared in
            let taken = (shared.incoming, shared.scheduled, shared.stopping)
            shared.incoming = []
            shared.scheduled = []
            return taken
        }
        for connection in incoming {
            connections[connection.socket.id] = connection
            connection.lastReceived = monotonicNow()
            connection.lastPing = connection.lastReceived
            _ = mhd_shim_epoll_ctl(epollFD, EPOLL_CTL_ADD, connection.fd, EPOLLIN.rawValue, connection.socket.id)
            connection.handler.webSocketDidOpen(connection.socket)
            // Bytes libmicrohttpd read past the request headers.
            if !connection.prefetched.isEmpty, connection.state == .open {
                service(connection, events: EPOLLIN.rawValue)
            } else {
                flush(connection)
            }
        }
        for socket in scheduled {
            guard let connection = connections[socket.id] else { continue }
            let (texts, closeRequest) = socket.outbox.withLock { box in
                let taken = (box.texts, box.closeRequest)
                box.texts = []
                box.bytes = 0
                box.listed = false
                return taken
            }
            guard connection.state == .open else { continue }
            for text in texts {
                let queued = wslay_event_get_queued_msg_length(connection.context)
                if queued + text.utf8.count > limits.maximumQueuedBytes {
                    initiateClose(connection, code: 1008, reason: "slow consumer", stopReading: true)
                    break
                }
                connection.queue(opcode: UInt8(WSLAY_TEXT_FRAME.rawValue), Array(text.utf8))
            }
            if let closeRequest, connection.state == .open {
                connection.deferredClose = closeRequest
                connection.deadline = monotonicNow() + limits.closeTimeout
            }
            flush(connection)
        }
        guard stopping else { return false }
        for connection in Array(connections.values) {
            if connection.state == .open {
                initiateClose(connection, code: 1001, reason: "server stopping", stopReading: true)
                // One non-blocking attempt to get the close frame out.
                _ = wslay_event_send(connection.context)
            }
            teardown(connection)
        }
        return true
    }

    /// Timers: pings, idle peers, closes that take too long.
    private func sweep() {
        let now = monotonicNow()
        for connection in Array(connections.values) {
            switch connection.state {
            case .open:
                if let deferred = connection.deferredClose, now >= connection.deadline {
                    // The peer did not take the last messages in time: close without them.
                    connection.deferredClose = nil
                    initiateClose(connection, code: deferred.code, reason: deferred.reason, stopReading: false)
                    flush(connection)
                } else if now &- connection.lastReceived >= limits.idleTimeout {
                    beginClose(connection, code: 1006, reason: "timeout")
                    teardown(connection)
                } else if now &- connection.lastPing >= limits.pingInterval {
                    connection.lastPing = now
                    connection.queue(opcode: UInt8(WSLAY_PING.rawValue), [])
                    flush(connection)
                }
            case .closing, .draining:
                if now >= connection.deadline { teardown(connection) }
            case .finished:
                break
            }
        }
    }

    private func service(_ connection: WebSocketConnection, events: UInt32) {
        let readable = events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        if readable {
            if connection.state == .draining || wslay_event_get_read_enabled(connection.context) == 0 {
                // Nobody reads any more: discard until the peer closes.
                if !connection.discardInput() {
                    teardown(connection)
                    return
                }
            } else {
                let result = wslay_event_recv(connection.context)
                if result != 0 {
                    // The peer went away (or memory ran out).
                    beginClose(connection, code: 1006, reason: "")
                    teardown(connection)
                    return
                }
                if connection.state == .open, wslay_event_get_read_enabled(connection.context) == 0 {
                    // wslay refused the input and queued a close frame itself.
                    let code = wslay_event_get_status_code_sent(connection.context)
                    beginClose(connection, code: code, reason: WebSocketLoop.reason(for: code))
                }
            }
        }
        if connection.state == .finished { return }
        flush(connection)
    }

    /// Writes what wslay has queued, moves on when the closing handshake is done and keeps the
    /// epoll interest in sync.
    private func flush(_ connection: WebSocketConnection) {
        guard connection.state == .open || connection.state == .closing else { return }
        if wslay_event_want_write(connection.context) != 0, wslay_event_send(connection.context) != 0 {
            beginClose(connection, code: 1006, reason: "")
            teardown(connection)
            return
        }
        if connection.state == .open, let deferred = connection.deferredClose,
            wslay_event_get_queued_msg_count(connection.context) == 0
        {
            connection.deferredClose = nil
            initiateClose(connection, code: deferred.code, reason: deferred.reason, stopReading: false)
            if wslay_event_send(connection.context) != 0 {
                teardown(connection)
                return
            }
        }
        let wantsWrite = wslay_event_want_write(connection.context) != 0
        if !wantsWrite, wslay_event_get_close_sent(connection.context) != 0 {
            if connection.state == .open {
                // The peer's close frame was answered.
                let code = wslay_event_get_status_code_received(connection.context)
                beginClose(connection, code: code, reason: WebSocketLoop.reason(for: code))
            }
            if wslay_event_want_read(connection.context) == 0 {
                if connection.overTLS, wslay_event_get_close_received(connection.context) != 0 {
                    // The closing handshake is complete. libmicrohttpd's TLS forwarding passes
                    // on what is left in the socket pair (our close frame), then ends the TLS
                    // session and the connection.
                    teardown(connection)
                    return
                }
                // Our close frame is out: discard input until the peer closes (or the close
                // timeout), so that a peer still sending gets to read the close frame.
                connection.state = .draining
                // Over TLS no half-close: libmicrohttpd 0.9.75 would stop forwarding in that
                // direction only and never close the connection, not even after the hand-back.
                if !connection.overTLS { shutdown(connection.fd, Int32(SHUT_WR)) }
            }
        }
        if wantsWrite != connection.watchingWrites {
            connection.watchingWrites = wantsWrite
            let events = EPOLLIN.rawValue | (wantsWrite ? EPOLLOUT.rawValue : 0)
            _ = mhd_shim_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, events, connection.socket.id)
        }
    }

    /// Queues a close frame; with `stopReading`, input is ignored from now on.
    func initiateClose(_ connection: WebSocketConnection, code: UInt16, reason: String, stopReading: Bool) {
        guard connection.state == .open else { return }
        let bytes = Array(reason.utf8.prefix(123))
        _ = bytes.withUnsafeBufferPointer {
            wslay_event_queue_close(connection.context, code, $0.baseAddress, $0.count)
        }
        if stopReading { wslay_event_shutdown_read(connection.context) }
        beginClose(connection, code: code, reason: reason)
    }

    /// The socket is closed for the application: no more sends, the handler hears of it once.
    func beginClose(_ connection: WebSocketConnection, code: UInt16, reason: String) {
        guard connection.state == .open else { return }
        connection.state = .closing
        connection.deadline = monotonicNow() + limits.closeTimeout
        connection.socket.outbox.withLock { box in
            box.closed = true
            box.texts = []
            box.bytes = 0
        }
        connection.handler.webSocketDidClose(connection.socket, code: code, reason: reason)
    }

    /// Frees everything and gives the socket back to libmicrohttpd, which closes it.
    private func teardown(_ connection: WebSocketConnection) {
        guard connection.state != .finished else { return }
        beginClose(connection, code: 1006, reason: "")
        _ = mhd_shim_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
        connections[connection.socket.id] = nil
        connection.release()
    }

    static func reason(for code: UInt16) -> String {
        switch code {
        case 1000: "normal closure"
        case 1001: "going away"
        case 1002: "protocol error"
        case 1003: "unsupported data"
        case 1005: ""
        case 1007: "invalid payload data"
        case 1008: "policy violation"
        case 1009: "message too big"
        default: ""
        }
    }
}

/// The loop's record of one upgraded connection. Only touched on the loop thread once adopted.
final class WebSocketConnection: @unchecked Sendable {
    enum State {
        case open
        /// didClose has been called; the closing handshake is under way.
        case closing
        /// Our close frame is sent and the write side shut: waiting for the peer to close.
        case draining
        /// Handed back to libmicrohttpd.
        case finished
    }

    let socket: WebSocket
    let handler: any WebSocketHandler
    let fd: Int32
    let urh: OpaquePointer
    /// `fd` is libmicrohttpd's socket pair to its TLS forwarding, not the TCP connection.
    let overTLS: Bool
    let limits: WebSocketLoop.Limits
    var context: OpaquePointer?
    var prefetched: [UInt8]
    var state = State.open
    var deadline: UInt64 = 0
    /// A close the application asked for, held back until the messages queued before it are
    /// written: wslay sends control frames ahead of queued data frames.
    var deferredClose: (code: UInt16, reason: String)?
    var lastReceived: UInt64 = 0
    var lastPing: UInt64 = 0
    var watchingWrites = false
    var tokens: Double
    var tokensUpdated: UInt64

    init?(
        socket: WebSocket, handler: any WebSocketHandler, fd: Int32, urh: OpaquePointer, overTLS: Bool,
        prefetched: [UInt8], limits: WebSocketLoop.Limits
    ) {
        self.socket = socket
        self.handler = handler
        self.fd = fd
        self.urh = urh
        self.overTLS = overTLS
        self.prefetched = prefetched
        self.limits = limits
        tokens = limits.messageBurst
        tokensUpdated = monotonicNow()
        var callbacks = wslay_event_callbacks()
        callbacks.recv_callback = { _, buffer, length, _, user in
            Unmanaged<WebSocketConnection>.fromOpaque(user!).takeUnretainedValue().receive(buffer!, length)
        }
        callbacks.send_callback = { _, data, length, flags, user in
            Unmanaged<WebSocketConnection>.fromOpaque(user!).takeUnretainedValue().transmit(
                data!, length, more: flags & Int32(WSLAY_MSG_MORE.rawValue) != 0)
        }
        callbacks.on_msg_recv_callback = { _, message, user in
            Unmanaged<WebSocketConnection>.fromOpaque(user!).takeUnretainedValue().received(message!.pointee)
        }
        let user = Unmanaged.passUnretained(self).toOpaque()
        guard wslay_event_context_server_init(&context, &callbacks, user) == 0, context != nil else { return nil }
        wslay_event_config_set_max_recv_msg_length(context, UInt64(max(0, limits.maximumMessageBytes)))
        _ = mhd_shim_set_nonblocking(fd)
    }

    /// Frees the wslay context and lets libmicrohttpd close the socket (exactly once).
    func release() {
        guard state != .finished else { return }
        state = .finished
        if let context { wslay_event_context_free(context) }
        context = nil
        socket.loop.closeGate.close(urh, tlsAppSocket: overTLS ? fd : nil)
    }

    func queue(opcode: UInt8, _ payload: [UInt8]) {
        payload.withUnsafeBufferPointer { bytes in
            var message = wslay_event_msg(opcode: opcode, msg: bytes.baseAddress, msg_length: bytes.count)
            _ = wslay_event_queue_msg(context, &message)
        }
    }

    /// Reads and throws away input; false once the peer has closed or the socket failed.
    func discardInput() -> Bool {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while true {
            let count = withUnsafeMutableBytes(of: &buffer) { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { continue }
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return true }
            return false
        }
    }

    // MARK: wslay callbacks (loop thread)

    private func receive(_ buffer: UnsafeMutablePointer<UInt8>, _ length: Int) -> Int {
        if !prefetched.isEmpty {
            let count = min(length, prefetched.count)
            prefetched.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: count) }
            prefetched.removeFirst(count)
            return count
        }
        let count = recv(fd, buffer, length, 0)
        if count > 0 {
            lastReceived = monotonicNow()
            return count
        }
        if count < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
            wslay_event_set_error(context, WSLAY_ERR_WOULDBLOCK.rawValue)
        } else {
            wslay_event_set_error(context, WSLAY_ERR_CALLBACK_FAILURE.rawValue)
        }
        return -1
    }

    /// `more`: wslay has the rest of the frame (the payload after this header) to send next;
    /// with MSG_MORE the kernel sends both in one segment although the socket has TCP_NODELAY.
    private func transmit(_ data: UnsafePointer<UInt8>, _ length: Int, more: Bool) -> Int {
        let flags = Int32(MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
        let count = Glibc.send(fd, data, length, flags)
        if count >= 0 { return count }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
            wslay_event_set_error(context, WSLAY_ERR_WOULDBLOCK.rawValue)
        } else {
            wslay_event_set_error(context, WSLAY_ERR_CALLBACK_FAILURE.rawValue)
        }
        return -1
    }

    private func received(_ message: wslay_event_on_msg_recv_arg) {
        guard state == .open else { return }
        let loop = socket.loop
        switch UInt32(message.opcode) {
        case WSLAY_CONNECTION_CLOSE.rawValue:
            // wslay answers with a close frame of its own.
            let code = message.status_code == 0 ? 1005 : message.status_code
            var reason = ""
            if message.msg_length > 2, let bytes = message.msg {
                reason = String(
                    decoding: UnsafeBufferPointer(start: bytes + 2, count: message.msg_length - 2), as: UTF8.self)
            }
            loop.beginClose(self, code: code, reason: reason)
        case WSLAY_PONG.rawValue:
            break
        case WSLAY_PING.rawValue:
            // wslay answers with a pong; pings count against the rate limit like messages.
            _ = admit()
        case WSLAY_BINARY_FRAME.rawValue:
            loop.initiateClose(self, code: 1003, reason: "binary messages are not supported", stopReading: true)
        case WSLAY_TEXT_FRAME.rawValue:
            guard admit() else { return }
            let bytes = UnsafeBufferPointer(start: message.msg, count: message.msg_length)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                loop.initiateClose(self, code: 1007, reason: "invalid UTF-8", stopReading: true)
                return
            }
            handler.webSocket(socket, didReceiveText: text)
        default:
            break
        }
    }

    /// Token bucket; closes with 1008 when the peer sends too fast.
    private func admit() -> Bool {
        let now = monotonicNow()
        let elapsed = Double(now &- tokensUpdated) / 1e9
        tokensUpdated = now
        tokens = min(limits.messageBurst, tokens + elapsed * limits.messagesPerSecond)
        if tokens >= 1 {
            tokens -= 1
            return true
        }
        socket.loop.initiateClose(self, code: 1008, reason: "rate limit exceeded", stopReading: true)
        return false
    }
}

extension Server {
    /// Answers an upgrade request: the 101 with the handshake headers, or the error response.
    func upgrade(
        _ request: Request, _ response: Response, _ state: RequestState, on connection: OpaquePointer
    ) -> MHD_Result {
        let accept: String
        switch WebSocketHandshake.validate(request) {
        case .success(let value): accept = value
        case .failure(let error): return MHDCallbacks.send(error.response, omitBody: false, on: connection)
        }
        state.webSocketHandler = response.webSocketHandler
        guard
            let upgrade = MHD_create_response_for_upgrade(
                MHDCallbacks.upgraded, Unmanaged.passUnretained(self).toOpaque())
        else { return .NO }
        defer { MHD_destroy_response(upgrade) }
        MHD_add_response_header(upgrade, "Upgrade", "websocket")
        MHD_add_response_header(upgrade, "Sec-WebSocket-Accept", accept)
        for (name, value) in response.headers {
            MHD_add_response_header(upgrade, name, value)
        }
        if MHD_queue_response(connection, 101, upgrade) == .YES { return .YES }
        // libmicrohttpd refuses upgrades on HTTP/1.0.
        state.webSocketHandler = nil
        return MHDCallbacks.send(
            HTTPError(.badRequest, "A WebSocket upgrade needs HTTP/1.1.").response, omitBody: false, on: connection)
    }
}

extension MHDCallbacks {
    static let upgraded: MHD_UpgradeHandler = { cls, connection, requestState, extra, extraSize, sock, urh in
        guard let urh else { return }
        guard let cls, let connection, let requestState,
            let server = Optional(Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()),
            let state = Optional(Unmanaged<RequestState>.fromOpaque(requestState).takeUnretainedValue()),
            let handler = state.webSocketHandler, let loop = server.webSocketLoop
        else {
            _ = mhd_shim_upgrade_close(urh)
            return
        }
        state.webSocketHandler = nil
        var prefetched: [UInt8] = []
        if let extra, extraSize > 0 {
            extra.withMemoryRebound(to: UInt8.self, capacity: extraSize) {
                prefetched = Array(UnsafeBufferPointer(start: $0, count: extraSize))
            }
        }
        // Frames go out at once, not after the peer's delayed ACK (libmicrohttpd turns Nagle back
        // on for the upgrade). Over TLS this is the TCP socket libmicrohttpd's forwarding writes.
        let tcp = mhd_shim_connection_fd(connection)
        if tcp >= 0 { mhd_shim_set_nodelay(tcp) }
        if server.configuration.tls != nil {
            // 1 KiB each way: an ICE candidate in one TLS record, a session description in a few.
            loop.closeGate.widenTLSRelay(urh, of: connection, appSocket: sock, size: 2048)
        }
        let socket = WebSocket(id: loop.makeID(), remoteAddress: clientAddress(connection), loop: loop)
        guard
            let adopted = WebSocketConnection(
                socket: socket, handler: handler, fd: sock, urh: urh, overTLS: server.configuration.tls != nil,
                prefetched: prefetched, limits: loop.limits)
        else {
            _ = mhd_shim_upgrade_close(urh)
            return
        }
        loop.adopt(adopted)
    }
}
