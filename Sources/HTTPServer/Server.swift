import CMicroHTTPD
import Dispatch
import Glibc

/// An HTTP/1.1 server on GNU libmicrohttpd: an epoll thread pool, keep-alive, optional TLS
/// (GnuTLS inside libmicrohttpd), a request body limit and read timeouts. It knows nothing of
/// the application: every request becomes a `Request`, the handler's `Response` is sent.
public final class Server: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port; `boundPort` tells which.
        public var port: UInt16
        /// PEM certificate chain and private key; nil for plain HTTP.
        public var tls: (certificate: String, key: String)?
        public var threads: Int
        /// Seconds a connection may stay idle or take to send a request.
        public var connectionTimeout: Int
        public var maximumBodyBytes: Int
        /// Open connections, upgraded WebSockets included (libmicrohttpd counts them until closed).
        public var maximumConnections: Int
        /// Open connections from one address (0: no limit); more are closed as they arrive, so
        /// that one client cannot take all of `maximumConnections`.
        public var maximumConnectionsPerAddress: Int
        /// A larger incoming WebSocket message closes the socket with 1009.
        public var webSocketMaximumMessageBytes: Int
        /// How often the server pings each WebSocket.
        public var webSocketPingInterval: Duration
        /// A WebSocket that receives nothing at all (pongs count) for this long is considered
        /// dead: it is closed without a closing handshake, code 1006, reason "timeout".
        public var webSocketIdleTimeout: Duration
        /// How long a closing handshake may take before the connection is simply dropped.
        public var webSocketCloseTimeout: Duration
        /// Token bucket per WebSocket: sustained incoming messages (text and pings) per second
        /// and the burst allowed; going over closes the socket with 1008.
        public var webSocketMessagesPerSecond: Double
        public var webSocketMessageBurst: Int
        /// Outgoing bytes that may wait per WebSocket; more closes it with 1008 "slow consumer".
        public var webSocketMaximumQueuedBytes: Int
        /// Requests (method, path) whose handler is slow on purpose (password hashing): they run
        /// on `slowWorkers` threads of their own while their connection is suspended, so that
        /// the other connections of the same libmicrohttpd thread are not held up meanwhile.
        public var isSlow: @Sendable (_ method: String, _ path: String) -> Bool = { _, _ in false }
        /// How many slow handlers run at once; more wait their turn (this also bounds the
        /// memory that password hashing takes).
        public var slowWorkers: Int = 2

        public init(
            host: String = "127.0.0.1", port: UInt16 = 8443, tls: (certificate: String, key: String)? = nil,
            threads: Int = 4, connectionTimeout: Int = 30, maximumBodyBytes: Int = 1 << 20,
            maximumConnections: Int = 16384, maximumConnectionsPerAddress: Int = 0,
            webSocketMaximumMessageBytes: Int = 64 << 10,
            webSocketPingInterval: Duration = .seconds(5), webSocketIdleTimeout: Duration = .seconds(12),
            webSocketCloseTimeout: Duration = .seconds(2), webSocketMessagesPerSecond: Double = 50,
            webSocketMessageBurst: Int = 100, webSocketMaximumQueuedBytes: Int = 1 << 20
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.threads = threads
            self.connectionTimeout = connectionTimeout
            self.maximumBodyBytes = maximumBodyBytes
            self.maximumConnections = maximumConnections
            self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
            self.webSocketMaximumMessageBytes = webSocketMaximumMessageBytes
            self.webSocketPingInterval = webSocketPingInterval
            self.webSocketIdleTimeout = webSocketIdleTimeout
            self.webSocketCloseTimeout = webSocketCloseTimeout
            self.webSocketMessagesPerSecond = webSocketMessagesPerSecond
            self.webSocketMessageBurst = webSocketMessageBurst
            self.webSocketMaximumQueuedBytes = webSocketMaximumQueuedBytes
        }
    }

    public typealias Handler = @Sendable (Request) -> Response

    public let configuration: Configuration
    let handler: Handler
    private var daemon: OpaquePointer?
    /// C strings handed to libmicrohttpd must outlive the daemon.
    private var retainedCStrings: [UnsafeMutablePointer<CChar>] = []
    private var socketAddress: UnsafeMutableRawPointer?
    /// Serves the upgraded connections; created by `start()`.
    private(set) var webSocketLoop: WebSocketLoop?
    /// Orders the loop's hand-back of upgraded connections before libmicrohttpd frees them.
    let upgradeCloseGate = UpgradeCloseGate()
    /// Runs the slow handlers; `stop()` waits for them, as suspended connections must be
    /// resumed before libmicrohttpd may stop.
    let slowWorkers: WorkerPool
    /// Slow requests whose connection is suspended or not yet answered after resuming.
    let slowRequestsInFlight = DispatchGroup()

    public init(configuration: Configuration, handler: @escaping Handler) {
        self.configuration = configuration
        self.handler = handler
        slowWorkers = WorkerPool(threads: configuration.slowWorkers, label: "slow request handlers")
    }

    deinit {
        stop()
        slowWorkers.stop()
        retainedCStrings.forEach { free($0) }
        socketAddress?.deallocate()
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// How much of an oversized body is read (and discarded) so that the client gets to see
    /// the 413 rather than a connection reset.
    var drainLimit: Int { max(16 << 20, configuration.maximumBodyBytes * 4) }

    /// The port actually listened on.
    public private(set) var boundPort: UInt16 = 0

    public func start() throws {
        var flags = UInt32(MHD_USE_INTERNAL_POLLING_THREAD.rawValue) | UInt32(MHD_USE_EPOLL.rawValue)
        flags |= UInt32(MHD_ALLOW_SUSPEND_RESUME.rawValue)
        flags |= UInt32(MHD_USE_ERROR_LOG.rawValue) | UInt32(MHD_ALLOW_UPGRADE.rawValue)
        var options: [MHD_OptionItem] = []
        func option(_ kind: MHD_OPTION, _ value: Int, _ pointer: UnsafeMutableRawPointer? = nil) {
            options.append(MHD_OptionItem(option: kind, value: value, ptr_value: pointer))
        }
        // One thread is the internal polling thread itself (libmicrohttpd warns about a pool of one).
        if configuration.threads > 1 { option(.THREAD_POOL_SIZE, configuration.threads) }
        option(.CONNECTION_TIMEOUT, configuration.connectionTimeout)
        option(.CONNECTION_LIMIT, configuration.maximumConnections)
        if configuration.maximumConnectionsPerAddress > 0 {
            option(.PER_IP_CONNECTION_LIMIT, configuration.maximumConnectionsPerAddress)
        }
        // Room for request headers (up to about 12 KiB); bodies are copied out as they arrive. An
        // upgraded WebSocket keeps this pool for its whole life, so it is most of the memory of an
        // idle signaling connection (bench/README.md).
        option(.CONNECTION_MEMORY_LIMIT, 16 * 1024)

        let (address, isIPv6) = try Server.resolve(host: configuration.host, port: configuration.port)
        socketAddress = address
        if isIPv6 { flags |= UInt32(MHD_USE_IPv6.rawValue) }
        option(.SOCK_ADDR, 0, address)

        if let tls = configuration.tls {
            flags |= UInt32(MHD_USE_TLS.rawValue)
            let key = strdup(tls.key)!
            let certificate = strdup(tls.certificate)!
            retainedCStrings += [key, certificate]
            option(.HTTPS_MEM_KEY, 0, UnsafeMutableRawPointer(key))
            option(.HTTPS_MEM_CERT, 0, UnsafeMutableRawPointer(certificate))
            // Modern protocol versions only.
            let priorities = strdup("NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")!
            retainedCStrings.append(priorities)
            option(.HTTPS_PRIORITIES, 0, UnsafeMutableRawPointer(priorities))
        }
        option(.END, 0, nil)

        // Every WebSocket holds a descriptor: allow as many as the hard limit permits.
        mhd_shim_raise_nofile_limit()
        if webSocketLoop == nil {
            let loop = try WebSocketLoop(
                limits: .init(
                    maximumMessageBytes: configuration.webSocketMaximumMessageBytes,
                    pingInterval: configuration.webSocketPingInterval.nanoseconds,
                    idleTimeout: configuration.webSocketIdleTimeout.nanoseconds,
                    closeTimeout: configuration.webSocketCloseTimeout.nanoseconds,
                    messagesPerSecond: configuration.webSocketMessagesPerSecond,
                    messageBurst: Double(max(1, configuration.webSocketMessageBurst)),
                    maximumQueuedBytes: configuration.webSocketMaximumQueuedBytes),
                closeGate: upgradeCloseGate)
            try loop.start()
            webSocketLoop = loop
        }

        let context = Unmanaged.passUnretained(self).toOpaque()
        let gate = Unmanaged.passUnretained(upgradeCloseGate).toOpaque()
        daemon = options.withUnsafeMutableBufferPointer { buffer in
            mhd_shim_start(
                flags, configuration.port, MHDCallbacks.access, context, MHDCallbacks.completed, nil,
                MHDCallbacks.connectionNotified, gate, buffer.baseAddress)
        }
        guard let daemon else {
            throw StartError(
                description:
                    "could not listen on \(configuration.host):\(configuration.port): the port may be in use, the address not local, or the TLS certificate/key invalid"
            )
        }
        boundPort = mhd_shim_bound_port(daemon)
    }

    /// Closes every WebSocket (their handlers hear `webSocketDidClose`, code 1001), then stops
    /// listening.
    public func stop() {
        webSocketLoop?.stop()
        // Suspended connections must be resumed, and are best answered, before libmicrohttpd stops.
        _ = slowRequestsInFlight.wait(timeout: .now() + .seconds(10))
        if let daemon {
            MHD_stop_daemon(daemon)
            self.daemon = nil
        }
        webSocketLoop = nil
    }

    /// Turns a host name or IP literal into a socket address libmicrohttpd can bind.
    static func resolve(host: String, port: UInt16) throws -> (UnsafeMutableRawPointer, Bool) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw StartError(
                description: "cannot resolve host '\(host)': use an IP address such as 0.0.0.0 or 127.0.0.1")
        }
        defer { freeaddrinfo(result) }
        // Prefer IPv4 when a name resolves to both.
        var chosen = first
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if entry.pointee.ai_family == AF_INET {
                chosen = entry
                break
            }
            cursor = entry.pointee.ai_next
        }
        let length = Int(chosen.pointee.ai_addrlen)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<sockaddr_storage>.size, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
        storage.copyMemory(from: chosen.pointee.ai_addr, byteCount: length)
        return (storage, chosen.pointee.ai_family == AF_INET6)
    }
}

/// Per-request state kept by libmicrohttpd between the calls of the access handler.
final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
    /// Bytes of an oversized body read and thrown away.
    var discarded = 0
    /// The handler of an accepted WebSocket upgrade, until the socket is handed over.
    var webSocketHandler: (any WebSocketHandler)?
    /// A slow handler's answer, set on its worker thread before the connection is resumed.
    var finished: (request: Request, response: Response)?
    /// Counted in `Server.slowRequestsInFlight` until answered or closed.
    var inFlight: DispatchGroup?

    /// The slow request is over: answered, or its connection closed.
    func leaveInFlight() {
        inFlight?.leave()
        inFlight = nil
    }
}

/// libmicrohttpd's C callbacks. They are static members of a type in a non-main file so that
/// they are not inferred `@MainActor` (they run on libmicrohttpd's threads).
enum MHDCallbacks {
    static let access: MHD_AccessHandlerCallback = {
        cls, connection, url, method, _, uploadData, uploadDataSize, requestState in
        guard let cls, let connection, let requestState, let uploadDataSize else { return .NO }
        let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()

        // First call: only the headers are known. Returning before answering keeps the
        // connection alive (libmicrohttpd answers with Connection: close otherwise).
        guard let raw = requestState.pointee else {
            let state = RequestState()
            requestState.pointee = Unmanaged.passRetained(state).toOpaque()
            if let length = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length"),
                let declared = Int(String(cString: length)), declared > server.configuration.maximumBodyBytes
            {
                state.tooLarge = true
                // Answering before the body is read makes libmicrohttpd close the connection
                // while the client still sends, and most clients then see a reset instead of
                // the 413. So a moderately oversized body is read and discarded; only a huge
                // one is cut off early.
                if declared > server.drainLimit {
                    return respond(server, state, connection, url: url, method: method)
                }
            }
            return .YES
        }
        let state = Unmanaged<RequestState>.fromOpaque(raw).takeUnretainedValue()

        // The call after a slow handler resumed the connection: send its answer.
        if let (request, response) = state.finished {
            state.finished = nil
            defer { state.leaveInFlight() }
            return server.deliver(request, response, state, on: connection)
        }

        // Middle calls: body bytes.
        if uploadDataSize.pointee > 0 {
            let count = uploadDataSize.pointee
            if state.tooLarge {
                state.discarded += count
                if state.discarded > server.drainLimit {
                    uploadDataSize.pointee = 0
                    return respond(server, state, connection, url: url, method: method)
                }
            } else if let uploadData {
                if state.body.count + count > server.configuration.maximumBodyBytes {
                    state.tooLarge = true
                    state.body = []
                } else {
                    uploadData.withMemoryRebound(to: UInt8.self, capacity: count) {
                        state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                    }
                }
            }
            uploadDataSize.pointee = 0
            return .YES
        }

        // Last call: the whole request is here.
        return respond(server, state, connection, url: url, method: method)
    }

    /// Hands the request to the application. A body over the limit is not passed on; the
    /// request is marked so that the application answers 413 through its usual path
    /// (headers, access log).
    static func respond(
        _ server: Server, _ state: RequestState, _ connection: OpaquePointer, url: UnsafePointer<CChar>?,
        method: UnsafePointer<CChar>?
    ) -> MHD_Result {
        let methodText = method.map { String(cString: $0) } ?? "GET"
        let headers = collect(connection, .HEADER_KIND).map { ($0.0.lowercased(), $0.1) }
        var request = Request(
            method: methodText,
            path: url.map { String(cString: $0) } ?? "/",
            queryItems: collect(connection, .GET_ARGUMENT_KIND),
            headers: Dictionary(headers) { _, last in last },
            body: state.tooLarge ? [] : state.body,
            clientAddress: clientAddress(connection))
        if state.tooLarge { request.bodyLimitExceeded = server.configuration.maximumBodyBytes }
        let single = headers.filter { Request.singleHeaders.contains($0.0) }
        if single.count > 1 {
            var seen: Set<String> = []
            request.repeatedHeaders = single.compactMap { seen.insert($0.0).inserted ? nil : $0.0 }
        }
        state.body = []
        if server.configuration.isSlow(request.method, request.path) {
            server.runSlowly(request, state, on: connection)
            return .YES
        }
        return server.deliver(request, server.handler(request), state, on: connection)
    }

    /// Runs on the worker thread before libmicrohttpd frees a connection: see `UpgradeCloseGate`.
    static let connectionNotified: MHD_NotifyConnectionCallback = { cls, connection, _, event in
        guard event == .CONNECTION_NOTIFY_CLOSED, let cls else { return }
        Unmanaged<UpgradeCloseGate>.fromOpaque(cls).takeUnretainedValue().connectionWillBeFreed(connection)
    }

    static let completed: MHD_RequestCompletedCallback = { _, _, requestState, _ in
        guard let requestState, let raw = requestState.pointee else { return }
        Unmanaged<RequestState>.fromOpaque(raw).takeUnretainedValue().leaveInFlight()
        Unmanaged<RequestState>.fromOpaque(raw).release()
        requestState.pointee = nil
    }

    static func send(_ response: Response, omitBody: Bool, on connection: OpaquePointer) -> MHD_Result {
        let body = omitBody ? [] : response.body
        let mhdResponse = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        for (name, value) in response.headers {
            MHD_add_response_header(mhdResponse, name, value)
        }
        let result = MHD_queue_response(connection, UInt32(response.status), mhdResponse)
        MHD_destroy_response(mhdResponse)
        return result
    }

    final class Collector {
        var items: [(String, String)] = []
    }

    static func collect(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [(String, String)] {
        let collector = Collector()
        let iterator: MHD_KeyValueIterator = { cls, _, key, value in
            guard let cls, let key else { return .YES }
            let collector = Unmanaged<Collector>.fromOpaque(cls).takeUnretainedValue()
            collector.items.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
            return .YES
        }
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values(connection, kind, iterator, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.items
    }

    static func clientAddress(_ connection: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        mhd_shim_client_address(connection, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Server {
    func deliver(_ request: Request, _ response: Response, _ state: RequestState, on connection: OpaquePointer)
        -> MHD_Result
    {
        if response.webSocketHandler != nil {
            return upgrade(request, response, state, on: connection)
        }
        return MHDCallbacks.send(response, omitBody: request.method == "HEAD", on: connection)
    }

    /// Suspends the connection, runs the handler on a slow worker, and resumes the connection
    /// with the answer in `state`; libmicrohttpd then calls the access handler again, which
    /// sends it. Only the access handler may suspend; any thread may resume.
    func runSlowly(_ request: Request, _ state: RequestState, on connection: OpaquePointer) {
        slowRequestsInFlight.enter()
        state.inFlight = slowRequestsInFlight
        MHD_suspend_connection(connection)
        let job = SlowJob(state: state, connection: connection)
        slowWorkers.submit { [handler] in
            job.state.finished = (request, handler(request))
            MHD_resume_connection(job.connection)
        }
    }
}

/// What a slow worker needs of a suspended connection. libmicrohttpd does not touch either
/// while the connection is suspended, and resuming orders the worker's write before the
/// access handler's read.
private struct SlowJob: @unchecked Sendable {
    let state: RequestState
    let connection: OpaquePointer
}
