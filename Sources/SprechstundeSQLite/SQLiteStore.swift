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

    /// One page of `select` (which ends in its FROM/JOIN clauses) under `filter`, with the
    /// total of `countFrom` under the same filter, both in one read transaction.
    static func page<T>(
        _ request: PageRequest, in connection: Connection, select: String, countFrom: String, filter: SQLFilter,
        orderBy: String, map: (Row) -> T
    ) throws -> Page<T> {
        let total = try connection.query("SELECT count(*) FROM \(countFrom) WHERE \(filter.clause)", filter.parameters)
            .first?.int(0)
        let rows = try connection.query(
            "\(select) WHERE \(filter.clause) ORDER BY \(orderBy) LIMIT ? OFFSET ?",
            filter.parameters + [.int(Int64(request.perPage)), .int(Int64(request.offset))])
        return Page(items: rows.map(map), total: Int(total ?? 0), request: request)
    }
}

/// WHERE conditions built up from optional filters, with their parameters in order.
struct SQLFilter {
    private(set) var conditions: [String]
    private(set) var parameters: [SQLValue] = []

    init(_ conditions: String...) { self.conditions = conditions }

    mutating func add(_ condition: String, _ values: SQLValue...) {
        conditions.append(condition)
        parameters += values
    }

    var clause: String { conditions.isEmpty ? "1" : conditions.joined(separator: " AND ") }
}
