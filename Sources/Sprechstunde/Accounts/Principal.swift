/// Who is calling: an ak user signed in with e-mail and password, or a company's machine
/// client. Every service call is authorised against this.
public enum Principal: Sendable, Equatable {
    case user(id: Int64, companyID: Int64?, role: Role)
    case client(id: Int64, companyID: Int64)

    /// The company the caller belongs to; nil only for a superadmin without a company.
    public var companyID: Int64? {
        switch self {
        case .user(_, let companyID, _): return companyID
        case .client(_, let companyID): return companyID
        }
    }

    public var role: Role? {
        if case .user(_, _, let role) = self { return role }
        return nil
    }

    public var userID: Int64? {
        if case .user(let id, _, _) = self { return id }
        return nil
    }

    public var isSuperadmin: Bool { role == .superadmin }

    /// Whether the caller may see objects of `companyID` at all (tenant scoping).
    public func canSee(company companyID: Int64?) -> Bool {
        isSuperadmin || (companyID != nil && companyID == self.companyID)
    }
}
