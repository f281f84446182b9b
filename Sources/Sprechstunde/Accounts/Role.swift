/// The contract's roles. A user's effective role is the highest one held.
public enum Role: Int, Sendable, CaseIterable, Comparable, Codable {
    case tanuser = 1
    case doc = 2
    case assistant = 3
    case admin = 4
    case superadmin = 5

    public var name: String {
        switch self {
        case .tanuser: return "tanuser"
        case .doc: return "doc"
        case .assistant: return "assistant"
        case .admin: return "admin"
        case .superadmin: return "superadmin"
        }
    }

    public var summary: String {
        switch self {
        case .tanuser: return "Patient or relative invited to one call by TAN; video only."
        case .doc: return "Doctor: own calls, own call logs, own user."
        case .assistant: return "Practice staff: calls and call logs of the company, read users."
        case .admin: return "Company administrator: everything inside the own company."
        case .superadmin: return "Platform operator: all companies."
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}
