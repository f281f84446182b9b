/// A company's machine credentials for the Client API (`client_id` + `pw`).
public struct MachineClient: Sendable, Equatable {
    public typealias ID = Int64

    public var id: ID
    public var companyID: Company.ID
    /// The public identifier integrators send as `client_id`.
    public var clientID: String
    public var name: String
    public var createdAt: Int64
    public var revokedAt: Int64?

    public init(
        id: ID, companyID: Company.ID, clientID: String, name: String, createdAt: Int64, revokedAt: Int64? = nil
    ) {
        self.id = id
        self.companyID = companyID
        self.clientID = clientID
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}
