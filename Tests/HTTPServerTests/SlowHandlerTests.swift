import Dispatch
import Foundation
import Synchronization
import Testing

@testable import HTTPServer

/// A value shared between the test and the server's threads.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func set(_ new: Value) { value.withLock { $0 = new } }
    var get: Value { value.withLock { $0 } }
}

/// A real server on a loopback port (plain HTTP), one libmicrohttpd thread.
@Suite("Slow handlers run off the connection threads")
struct SlowHandlerTests {
    /// One request over a fresh connection; the status code, or nil if the exchange failed.
    static func get(port: UInt16, path: String) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { return nil }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        // "HTTP/1.1 200 OK"
        let line = String(decoding: answer.prefix(while: { $0 != 13 }), as: UTF8.self)
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    @Test("a fast request is answered while a slow one still runs, on a server with one thread")
    func fastWhileSlow() throws {
        let fastAnswered = DispatchSemaphore(value: 0)
        let slowSawFastFirst = Shared(false)
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0, threads: 1)
        configuration.isSlow = { _, path in path == "/slow" }
        let server = Server(configuration: configuration) { request in
            if request.path == "/slow" {
                // Waits for the fast request: if slow handlers blocked the only connection
                // thread, the fast one could not be answered and this would give up.
                let signalled = fastAnswered.wait(timeout: .now() + 20) == .success
                slowSawFastFirst.set(signalled)
                return Response(status: signalled ? 200 : 504)
            }
            return Response(status: 204)
        }
        try server.start()
        defer { server.stop() }
        let port = server.boundPort
        let slowStatus = Shared<Int?>(nil)
        let slowDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            slowStatus.set(Self.get(port: port, path: "/slow"))
            slowDone.signal()
        }
        // The slow request is on its way (or already waiting): the fast one must still get through.
        var fastStatus: Int?
        for _ in 0..<50 where fastStatus == nil {
            fastStatus = Self.get(port: port, path: "/fast")
        }
        #expect(fastStatus == 204)
        fastAnswered.signal()
        #expect(slowDone.wait(timeout: .now() + 30) == .success)
        #expect(slowStatus.get == 200)
        #expect(slowSawFastFirst.get)
    }

    @Test("stopping waits for slow handlers in flight, and their connections are answered")
    func stopWaitsForSlowHandlers() throws {
        let started = DispatchSemaphore(value: 0)
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0, threads: 1)
        configuration.isSlow = { _, _ in true }
        let server = Server(configuration: configuration) { _ in
            started.signal()
            usleep(200_000)
            return Response(status: 200)
        }
        try server.start()
        let port = server.boundPort
        let status = Shared<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            status.set(Self.get(port: port, path: "/any"))
            done.signal()
        }
        #expect(started.wait(timeout: .now() + 20) == .success)
        server.stop()
        #expect(done.wait(timeout: .now() + 20) == .success)
        #expect(status.get == 200)
    }
}
