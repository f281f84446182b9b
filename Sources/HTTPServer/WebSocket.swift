import CGnuTLS
import CMicroHTTPD
import CWslay
import Glibc
import Synchronization

/// Receives the events of WebSockets (RFC 6455) opened through `Response.webSocket(_:)`.
///
/// All callbacks run on the server's single WebSocket loop thread, which serves every
/// upgraded connection: they must not block (no disk or network I/O, no waiting on locks held
/// for long). Hand slow work to another thread and answer later with `WebSocket.send(text:)`.
public protocol WebSocketHandler: AnyObject, Sendable {
    func webSocketDidOpen(_ socket: WebSocket)
    func webSocket(_ socket: WebSocket, didReceiveText text: String)
    /// Called exactly once per socket, whatever the reason (close frame, abrupt close, timeout,
    /// oversize, rate limit, server stop). `send(text:)` is a no-op from then on.
    func webSocketDidClose(_ socket: WebSocket, code: UInt16, reason: String)
}

/// One upgraded connection as the application sees it. Sending and closing are thread-safe:
/// the work is queued and carried out by the server's WebSocket loop.
public final class WebSocket: Sendable {
    /// Unique among the sockets of one server.
    public let id: UInt64
    /// The peer's IP address as text, like `Request.clientAddress`.
    public let remoteAddress: String

    struct Outbox: ~Copyable {
        var texts: [String] = []
        var bytes = 0
        var closeRequest: (code: UInt16, reason: String)?
        /// Set once the socket is closed (didClose called or about to be): sends are dropped.
        var closed = false
        /// Already on the loop's list of sockets with work.
        var listed = false
    }

    let outbox = Mutex(Outbox())
    let loop: WebSocketLoop

    init(id: UInt64, remoteAddress: String, loop: WebSocketLoop) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.loop = loop
    }

    /// Queues a text message. Does nothing once the socket is closed or closing. If more than
    /// `webSocketMaximumQueuedBytes` wait to be sent, the socket is closed with 1008.
    public func send(text: String) {
        let limit = loop.limits.maximumQueuedBytes
        let wake = outbox.withLock { box -> Bool in
            if box.closed || box.closeRequest != nil { return false }
            let count = text.utf8.count
            if box.bytes + count > limit {
                box.texts = []
                box.bytes = 0
                box.closeRequest = (1008, "slow consumer")
            } else {
                box.texts.append(text)
                box.bytes += count
            }
            if box.listed { return false }
            box.listed = true
            return true
        }
        if wake { loop.schedule(self) }
    }

    /// Sends a close frame with `code` and `reason` (cut to 123 bytes) after the messages
    /// already queued, then closes the connection. Does nothing if already closed or closing.
    public func close(code: UInt16, reason: String) {
        let wake = outbox.withLock { box -> Bool in
            if box.closed || box.closeRequest != nil { return false }
            box.closeRequest = (code, reason)
            if box.listed { return false }
            box.listed = true
            return true
        }
        if wake { loop.schedule(self) }
    }
}

extension Response {
    /// Upgrades the request to a WebSocket served by `handler`. The server checks the request
    /// is a valid RFC 6455 handshake and answers 400 (or 426 for another protocol version)
    /// if it is not. Extra `headers` of the response are sent with the 101.
    public static func webSocket(_ handler: any WebSocketHandler) -> Response {
        var response = Response(status: 101)
        response.webSocketHandler = handler
        return response
    }
}

/// The RFC 6455 opening handshake.
enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The accept value for a client key, or the error response for an invalid upgrade request.
    static func validate(_ request: Request) -> Result<String, ResponseError> {
        func bad(_ message: String) -> Result<String, ResponseError> {
            .failure(ResponseError(response: HTTPError(.badRequest, message).response))
        }
        guard request.method == "GET" else { return bad("A WebSocket upgrade must use GET.") }
        func tokens(_ name: String) -> [String] {
            (request.header(name) ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: " \t").lowercased()
            }
        }
        guard tokens("upgrade").contains("websocket") else {
            return bad("The Upgrade header must be 'websocket'.")
        }
        guard tokens("connection").contains("upgrade") else {
            return bad("The Connection header must contain 'upgrade'.")
        }
        guard let version = request.header("sec-websocket-version") else {
            return bad("The Sec-WebSocket-Version header is missing.")
        }
        guard version.trimmingCharacters(in: " \t") == "13" else {
            var response = Response.json(
                .object([("message", .string("Only WebSocket version 13 is supported."))]), status: 426)
            response.headers.append(("Sec-WebSocket-Version", "13"))
            return .failure(ResponseError(response: response))
        }
        guard let key = request.header("sec-websocket-key")?.trimmingCharacters(in: " \t"),
            Base64.decode(String(key))?.count == 16
        else {
            return bad("The Sec-WebSocket-Key header must be 16 bytes in base64.")
        }
        return .success(accept(forKey: String(key)))
    }

    static func accept(forKey key: String) -> String {
        let text = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        _ = text.withUnsafeBytes { input in
            digest.withUnsafeMutableBytes { output in
                gnutls_hash_fast(GNUTLS_DIG_SHA1, input.baseAddress, input.count, output.baseAddress)
            }
        }
        return Base64.encode(digest)
    }

    struct ResponseError: Error {
        let response: Response
    }
}

/// Standard base64 with padding.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var group = UInt32(bytes[index]) << 16
            if count > 1 { group |= UInt32(bytes[index + 1]) << 8 }
            if count > 2 { group |= UInt32(bytes[index + 2]) }
            for position in 0..<4 {
                if position <= count {
                    output.append(alphabet[Int((group >> UInt32(18 - 6 * position)) & 0x3F)])
                } else {
                    output.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// nil unless `text` is well-formed padded base64.
    static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        var index = 0
        while index < characters.count {
            var group: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let character = characters[index + offset]
                let value: UInt32
                if character == UInt8(ascii: "=") {
                    // Padding only at the very end, at most two.
                    guard index + 4 == characters.count, offset >= 2 else { return nil }
                    padding += 1
                    value = 0
                } else {
                    guard padding == 0, let position = alphabet.firstIndex(of: character) else { return nil }
                    value = UInt32(position)
                }
                group = group << 6 | value
            }
            output.append(UInt8(group >> 16))
            if padding < 2 { output.append(UInt8((group >> 8) & 0xFF)) }
            if padding < 1 { output.append(UInt8(group & 0xFF)) }
            index += 4
        }
        return output
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var result = self[...]
        while let first = result.first, set.contains(first) { result = result.dropFirst() }
        while let last = result.last, set.contains(last) { result = result.dropLast() }
        return Substring(result)
    }
}
