import Foundation
import Synchronization

/// A SQLite database in WAL mode: one writer connection (SQLite allows one writer at a time
/// anyway, so writes queue here instead of spinning on SQLITE_BUSY) and a set of reader
/// connections that read concurrently with the writer.
public final class Database: Sendable {
    public let path: String
    private let writer: Guarded
    private let readers: [Guarded]
    private let nextReader = Atomic<Int>(0)

    /// Opens (creating if needed) the database and applies pending migrations.
    public init(path: String, readers: Int = 4) throws {
        self.path = path
        let writerConnection = try Connection(path: path, readOnly: false)
        try writerConnection.execute(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            PRAGMA busy_timeout = 5000;
            """)
        try Migrations.apply(to: writerConnection)
        self.writer = Guarded(writerConnection)
        self.readers = try (0..<max(1, readers)).map { _ in
            let reader = try Connection(path: path, readOnly: true)
            try reader.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
            return Guarded(reader)
        }
    }

    /// Runs `body` in an IMMEDIATE transaction on the writer; rolls back if it throws. A
    /// committed transaction survives the process being killed (WAL, synchronous=NORMAL).
    func write<T>(_ body: (Connection) throws -> T) throws -> T {
        try writer.withConnection { connection in
            try connection.run("BEGIN IMMEDIATE")
            do {
                let result = try body(connection)
                try connection.run("COMMIT")
                return result
            } catch {
                try? connection.run("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs `body` on a reader connection inside one read transaction (a consistent snapshot).
    func read<T>(_ body: (Connection) throws -> T) throws -> T {
        let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count
        return try readers[index].withConnection { connection in
            try connection.run("BEGIN")
            defer { _ = try? connection.run("COMMIT") }
            return try body(connection)
        }
    }

    /// The schema version after migrations.
    public func schemaVersion() throws -> Int {
        try read { Int(try $0.query("SELECT coalesce(max(version), 0) FROM schema_migrations").first?.int(0) ?? 0) }
    }
}

/// A connection that one thread at a time may use.
private final class Guarded: @unchecked Sendable {
    private let lock = NSLock()
    private let connection: Connection

    init(_ connection: Connection) { self.connection = connection }

    func withConnection<T>(_ body: (Connection) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(connection)
    }
}
