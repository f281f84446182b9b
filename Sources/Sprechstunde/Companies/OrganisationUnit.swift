/// A subsidiary, location or department inside a company; users point at up to one of each.
public struct OrganisationUnit: Sendable, Equatable {
    public typealias ID = Int64

    public enum Kind: String, Sendable, CaseIterable {
        case subsidiary = "ousubsidiary"
        case location = "oulocation"
        case department = "department"

        /// The API collection, e.g. `/api/v2/ousubsidiaries`.
        public var collection: String {
            switch self {
            case .subsidiary: return "ousubsidiaries"
            case .location: return "oulocations"
            case .department: return "departments"
            }
        }

        public var displayName: String {
            switch self {
            case .subsidiary: return "Subsidiary"
            case .location: return "Location"
            case .department: return "Department"
            }
        }
    }

    public var id: ID
    public var kind: Kind
    public var companyID: Company.ID
    public var name: String
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: ID, kind: Kind, companyID: Company.ID, name: String, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.kind = kind
        self.companyID = companyID
        self.name = name
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
