/// A domain failure with a stable kind, a message meant for the integrator, and optional
/// per-field validation errors. The HTTP edge maps kinds to status codes in one place.
///
/// `Kind` is a struct rather than an enum so that new kinds never break a caller's `switch`.
public struct DomainError: Error, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let code: String
        private init(_ code: String) { self.code = code }
        public var description: String { code }

        /// No or bad credentials/token.
        public static let unauthenticated = Kind("unauthenticated")
        /// Authenticated but not allowed.
        public static let forbidden = Kind("forbidden")
        /// Unknown, or not visible to the caller (another tenant's objects look exactly like this).
        public static let notFound = Kind("not-found")
        /// The object's state does not allow this change.
        public static let conflict = Kind("conflict")
        /// The input breaks a rule; `fieldErrors` says which.
        public static let validation = Kind("validation")
        /// Too many attempts; `retryAfter` says for how long.
        public static let throttled = Kind("throttled")
        /// A dependency (the database) is not usable right now.
        public static let unavailable = Kind("unavailable")
    }

    public let kind: Kind
    public let message: String
    public let fieldErrors: [(String, [String])]
    /// Seconds, for `.throttled`.
    public let retryAfter: Int?

    public init(_ kind: Kind, _ message: String, fieldErrors: [(String, [String])] = [], retryAfter: Int? = nil) {
        self.kind = kind
        self.message = message
        self.fieldErrors = fieldErrors
        self.retryAfter = retryAfter
    }

    public var description: String { "\(kind): \(message)" }

    public static func notFound(_ what: String) -> DomainError {
        DomainError(.notFound, "\(what) not found.")
    }

    public static func forbidden(_ message: String = "You are not allowed to do this.") -> DomainError {
        DomainError(.forbidden, message)
    }

    public static func invalid(_ field: String, _ message: String) -> DomainError {
        DomainError(.validation, message, fieldErrors: [(field, [message])])
    }
}

/// Collects validation failures so that one answer lists every problem at once.
public struct ValidationErrors: Sendable {
    public private(set) var fields: [(String, [String])] = []

    public init() {}

    public var isEmpty: Bool { fields.isEmpty }

    public func has(_ field: String) -> Bool { fields.contains { $0.0 == field } }

    public mutating func add(_ field: String, _ message: String) {
        if let index = fields.firstIndex(where: { $0.0 == field }) {
            fields[index].1.append(message)
        } else {
            fields.append((field, [message]))
        }
    }

    public mutating func merge(_ fields: [(String, [String])]) {
        for (field, messages) in fields { messages.forEach { add(field, $0) } }
    }

    /// Throws a `.validation` error if anything was collected.
    public func check() throws(DomainError) {
        guard let first = fields.first else { return }
        let summary =
            fields.count == 1
            ? first.1[0] : "\(first.1[0]) (and \(fields.count - 1) more \(fields.count == 2 ? "problem" : "problems"))"
        throw DomainError(.validation, summary, fieldErrors: fields)
    }
}
