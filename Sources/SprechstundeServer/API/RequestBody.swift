import HTTPServer
import Sprechstunde

/// Reads typed fields out of a JSON request body and collects every type error, so the
/// answer to a bad request lists all of them (422, `errors` by field).
struct RequestBody {
    private let members: [(String, JSON)]
    private(set) var errors = ValidationErrors()

    /// An empty body counts as `{}`; a body that is not an object is a validation error.
    init(_ request: Request) throws {
        if let type = request.header("content-type"), !request.body.isEmpty,
            !type.lowercased().hasPrefix("application/json")
        {
            throw HTTPError(.unsupportedMediaType, "Send the body as JSON with 'Content-Type: application/json'.")
        }
        switch try request.jsonBody() {
        case nil: members = []
        case .object(let members): self.members = members
        case .some(let other):
            throw DomainError(.validation, "The request body must be a JSON object, not \(other.typeName).")
        }
    }

    func has(_ key: String) -> Bool { members.contains { $0.0 == key } }

    /// The raw member, for fields that accept more than one shape.
    func value(_ key: String) -> JSON? { members.last(where: { $0.0 == key })?.1 }

    /// Records that a required member is missing unless it is there; true if there.
    @discardableResult
    mutating func require(_ key: String) -> Bool {
        if has(key) { return true }
        errors.add(key, "\(key) is required.")
        return false
    }

    /// A string; nil when absent. `null` is refused.
    mutating func string(_ key: String) -> String? {
        guard let value = value(key) else { return nil }
        if case .string(let text) = value { return text }
        errors.add(key, "\(key) must be a string, not \(value.typeName).")
        return nil
    }

    /// A string that must be there.
    mutating func requiredString(_ key: String) -> String? {
        require(key) ? string(key) : nil
    }

    /// A string or `null` (clear); nil when absent.
    mutating func nullableString(_ key: String) -> String?? {
        guard let value = value(key) else { return nil }
        if value.isNull { return .some(nil) }
        return string(key).map { .some($0) }
    }

    mutating func int(_ key: String) -> Int64? {
        guard let value = value(key) else { return nil }
        if let int = Self.integer(value) { return int }
        if case .double = value {
            errors.add(key, "\(key) must be a whole number (no fraction, at most 2^53).")
        } else {
            errors.add(key, "\(key) must be a whole number, not \(value.typeName).")
        }
        return nil
    }

    mutating func nullableInt(_ key: String) -> Int64?? {
        guard let value = value(key) else { return nil }
        if value.isNull { return .some(nil) }
        return int(key).map { .some($0) }
    }

    /// true/false; 0 and 1 are accepted as well because some clients send them.
    mutating func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        switch value {
        case .bool(let flag): return flag
        case .int(0): return false
        case .int(1): return true
        default:
            errors.add(key, "\(key) must be true or false, not \(value.typeName).")
            return nil
        }
    }

    mutating func intList(_ key: String) -> [Int]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value, let ints = Optional(items.compactMap(Self.integer)),
            ints.count == items.count
        else {
            errors.add(key, "\(key) must be a list of whole numbers.")
            return nil
        }
        return ints.map { Int(clamping: $0) }
    }

    mutating func stringList(_ key: String) -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else {
            errors.add(key, "\(key) must be a list of strings.")
            return nil
        }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else {
                errors.add(key, "\(key) must be a list of strings.")
                return nil
            }
            strings.append(text)
        }
        return strings
    }

    /// A nested object with a reader of its own.
    mutating func object(_ key: String) -> RequestBody? {
        guard let value = value(key), !value.isNull else { return nil }
        guard case .object(let members) = value else {
            errors.add(key, "\(key) must be an object.")
            return nil
        }
        return RequestBody(members: members)
    }

    /// A list of objects, each with its position in the list (for error names) and a reader
    /// of its own; entries that are not objects are reported here.
    mutating func objectList(_ key: String) -> [(index: Int, entry: RequestBody)]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else {
            errors.add(key, "\(key) must be a list of objects.")
            return nil
        }
        var objects: [(index: Int, entry: RequestBody)] = []
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else {
                errors.add("\(key).\(index)", "each entry of \(key) must be an object.")
                continue
            }
            objects.append((index, RequestBody(members: members)))
        }
        return objects
    }

    static func integer(_ value: JSON) -> Int64? {
        switch value {
        case .int(let int): return int
        case .double(let double) where double.rounded() == double && abs(double) < 9e15: return Int64(double)
        default: return nil
        }
    }

    /// Throws a 422 listing every type error found so far.
    func check() throws { try errors.check() }

    /// A reader over a nested object (an entry of a list); its errors are reported under `prefix`.
    init(members: [(String, JSON)]) {
        self.members = members
    }

    mutating func adopt(_ other: RequestBody, prefix: String) {
        for (field, messages) in other.errors.fields { messages.forEach { errors.add("\(prefix).\(field)", $0) } }
    }
}
