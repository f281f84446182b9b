import Foundation

/// Where the server writes. The access log holds method, route template, status and duration
/// only: no query strings, bodies, tokens, names or e-mail addresses.
public struct Log: Sendable {
    let write: @Sendable (String) -> Void
    public var accessLog = true

    public init(write: @escaping @Sendable (String) -> Void) { self.write = write }

    public static let standardError = Log { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public static let discard = Log { _ in }

    func access(method: String, route: String, status: Int, microseconds: UInt64) {
        guard accessLog else { return }
        let safeMethod = method.count <= 10 && method.allSatisfy(\.isLetter) ? method : "?"
        write(
            "access method=\(safeMethod) route=\(route) status=\(status) duration_ms=\(String(format: "%.2f", Double(microseconds) / 1000))"
        )
    }

    func error(_ message: String) { write("error " + message) }
    func info(_ message: String) { write("info " + message) }
}
