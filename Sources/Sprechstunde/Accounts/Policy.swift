/// The permission matrix of the contract, in one place. Tenant scoping is checked by the
/// services on top of this (an object of another company is reported as not found).
public enum Action: Sendable, CaseIterable {
    case readCompanies
    case manageCompanies
    case readOrganisation
    case manageOrganisation
    case readUsers
    case manageUsers
    case updateOwnProfile
    case createScopedToken
    /// Read the company's outgoing notifications and retry failed ones.
    case manageNotifications
}

public enum Policy {
    public static func allows(_ principal: Principal, _ action: Action) -> Bool {
        switch principal {
        case .client:
            // Machine clients exist to hand one-time passwords to their company's users.
            return action == .createScopedToken
        case .user(_, _, let role):
            switch action {
            case .readCompanies, .readOrganisation, .updateOwnProfile:
                return role >= .doc
            case .readUsers:
                // A doctor reads only the own user; the services narrow the list.
                return role >= .doc
            case .manageOrganisation, .manageUsers, .manageNotifications:
                return role >= .admin
            case .manageCompanies:
                return role == .superadmin
            case .createScopedToken:
                return false
            }
        }
    }

    /// Throws `.forbidden` unless allowed.
    public static func require(_ principal: Principal, _ action: Action) throws(DomainError) {
        guard allows(principal, action) else {
            throw DomainError.forbidden(message(for: action))
        }
    }

    static func message(for action: Action) -> String {
        switch action {
        case .readCompanies, .readOrganisation, .readUsers, .updateOwnProfile:
            return "This account cannot use the User API; sign in as an ak user."
        case .manageCompanies: return "Only a superadmin can create, change or delete companies."
        case .manageOrganisation: return "Only an admin can change subsidiaries, locations and departments."
        case .manageUsers: return "Only an admin can create, change or delete other users."
        case .createScopedToken: return "Only a machine client (POST /api/v2/client) can create one-time passwords."
        case .manageNotifications: return "Only an admin can read and retry the company's notifications."
        }
    }

    /// Roles an admin may grant through the API. TAN users come from calls; superadmins are
    /// made on the command line.
    public static let grantableRoles: Set<Role> = [.doc, .assistant, .admin]
}
