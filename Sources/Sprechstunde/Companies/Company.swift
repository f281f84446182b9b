/// A tenant: a practice, hospital or group. Every object belongs to exactly one.
public struct Company: Sendable, Equatable {
    public typealias ID = Int64

    public var id: ID
    public var name: String
    public var extid: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var deletedAt: Int64?

    public init(id: ID, name: String, extid: String? = nil, createdAt: Int64, updatedAt: Int64, deletedAt: Int64? = nil)
    {
        self.id = id
        self.name = name
        self.extid = extid
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }
}
