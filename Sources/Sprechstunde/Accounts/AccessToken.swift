/// What a bearer token stands for. The token itself is only ever stored as its SHA-256.
public enum TokenOwner: Sendable, Equatable {
    case user(User.ID)
    case client(MachineClient.ID)
}

/// A freshly issued bearer token: the only moment the plain value exists.
public struct IssuedToken: Sendable, Equatable {
    public let value: String
    public let expiresIn: Int64
    public let validUntil: Int64
}
