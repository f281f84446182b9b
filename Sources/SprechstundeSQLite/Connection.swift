import CSQLite

/// A value bound to or read from SQLite.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public static func text(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
    public static func int(_ value: Int64?) -> SQLValue { value.map { .int($0) } ?? .null }
    public static func bool(_ value: Bool) -> SQLValue { .int(value ? 1 : 0) }
}

/// One result row; columns by position, in the order of the SELECT.
public struct Row: Sendable {
    public let values: [SQLValue]

    public func int(_ index: Int) -> Int64? {
        if case .int(let value) = values[index] { return value }
        return nil
    }

    public func text(_ index: Int) -> String? {
        if case .text(let value) = values[index] { return value }
        return nil
    }

    public func bool(_ index: Int) -> Bool { (int(index) ?? 0) != 0 }

    public func blob(_ index: Int) -> [UInt8]? {
        if case .blob(let value) = values[index] { return value }
        return nil
    }
}

public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }

    /// SQLITE_CONSTRAINT_UNIQUE or SQLITE_CONSTRAINT_PRIMARYKEY.
    public var isUniqueViolation: Bool { code == 2067 || code == 1555 }
}

/// One SQLite connection with a cache of prepared statements. Not thread-safe: the database
/// hands each connection to one thread at a time.
final class Connection {
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, readOnly: Bool) throws {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(handle)
            throw SQLiteError(code: status, message: "\(message) (\(path))")
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    private func error(_ status: Int32) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements without parameters (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "failed"
            sqlite3_free(message)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: text)
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw error(status) }
        statements[sql] = statement
        return statement
    }

    /// Runs a statement and returns every row.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [Row] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .null: status = sqlite3_bind_null(statement, index)
            case .int(let int): status = sqlite3_bind_int64(statement, index, int)
            case .double(let double): status = sqlite3_bind_double(statement, index, double)
            case .text(let text):
                status = text.utf8CString.withUnsafeBufferPointer {
                    sqlite_shim_bind_text(statement, index, $0.baseAddress, Int32($0.count - 1))
                }
            case .blob(let bytes):
                status = bytes.withUnsafeBytes {
                    sqlite_shim_bind_blob(statement, index, $0.baseAddress, Int32($0.count))
                }
            }
            guard status == SQLITE_OK else { throw error(status) }
        }
        var rows: [Row] = []
        let columns = sqlite3_column_count(statement)
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw error(status) }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columns))
            for column in 0..<columns {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: values.append(.int(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT: values.append(.double(sqlite3_column_double(statement, column)))
                case SQLITE_TEXT:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    let text = sqlite3_column_text(statement, column).map {
                        String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
                    }
                    values.append(.text(text ?? ""))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    let pointer = sqlite3_column_blob(statement, column)
                    let bytes = pointer.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
                    values.append(.blob(bytes))
                default: values.append(.null)
                }
            }
            rows.append(Row(values: values))
        }
        return rows
    }

    /// Runs a statement that changes rows; returns the number changed.
    @discardableResult
    func run(_ sql: String, _ parameters: [SQLValue] = []) throws -> Int {
        try query(sql, parameters)
        return Int(sqlite3_changes(handle))
    }

    var lastInsertID: Int64 { sqlite3_last_insert_rowid(handle) }
}
