import Sprechstunde

/// The embedded default store: every `Store` protocol on one SQLite database.
public final class SQLiteStore: HealthCheck {
    public let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Opens the database file at `path` (created and migrated if needed).
    public convenience init(path: String, readers: Int = 4) throws {
        self.init(database: try Database(path: path, readers: readers))
    }

    public func checkHealth() throws {
        _ = try database.read { try $0.query("SELECT 1") }
    }

    /// Runs a write and turns uniqueness failures into the domain's `UniqueViolation`.
    @discardableResult
    func write<T>(uniqueField: String = "email", _ body: (Connection) throws -> T) throws -> T {
        do {
            return try database.write(body)
        } catch let error as SQLiteError where error.isUniqueViolation {
            throw UniqueViolation(field: uniqueField)
        }
    }

    static func page<T>(_ request: PageRequest, total: Int64?, items: [T]) -> Page<T> {
        Page(items: items, total: Int(total ?? 0), request: request)
    }
}
