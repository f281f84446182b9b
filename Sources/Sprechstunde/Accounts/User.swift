/// An ak user (doctor, assistant, admin, superadmin) or a TAN user created for a call.
/// Never carries a password or its hash.
public struct User: Sendable, Equatable {
    public typealias ID = Int64

    public var id: ID
    public var companyID: Company.ID?
    public var name: String
    public var email: String?
    public var title: String
    public var gender: String
    public var mobile: String?
    public var languages: [String]
    public var extid: String?
    public var description: String?
    public var subsidiaryID: OrganisationUnit.ID?
    public var locationID: OrganisationUnit.ID?
    public var departmentID: OrganisationUnit.ID?
    public var expiresAt: Int64?
    public var isUnlocked: Bool
    public var roles: [Role]
    public var notificationOptions: [NotificationOption]
    public var dataAgreed: Bool
    public var descriptionsAgreed: Bool
    public var createdAt: Int64
    public var updatedAt: Int64
    public var deletedAt: Int64?

    /// Display names resolved by the store for the wire format.
    public var companyName: String?
    public var subsidiaryName: String?
    public var locationName: String?
    public var departmentName: String?

    public init(
        id: ID = 0, companyID: Company.ID?, name: String, email: String?, title: String = "", gender: String = "notset",
        mobile: String? = nil, languages: [String] = [], extid: String? = nil, description: String? = nil,
        subsidiaryID: OrganisationUnit.ID? = nil, locationID: OrganisationUnit.ID? = nil,
        departmentID: OrganisationUnit.ID? = nil, expiresAt: Int64? = nil, isUnlocked: Bool = true, roles: [Role],
        notificationOptions: [NotificationOption] = [], dataAgreed: Bool = false, descriptionsAgreed: Bool = false,
        createdAt: Int64 = 0, updatedAt: Int64 = 0, deletedAt: Int64? = nil
    ) {
        self.id = id
        self.companyID = companyID
        self.name = name
        self.email = email
        self.title = title
        self.gender = gender
        self.mobile = mobile
        self.languages = languages
        self.extid = extid
        self.description = description
        self.subsidiaryID = subsidiaryID
        self.locationID = locationID
        self.departmentID = departmentID
        self.expiresAt = expiresAt
        self.isUnlocked = isUnlocked
        self.roles = roles
        self.notificationOptions = notificationOptions
        self.dataAgreed = dataAgreed
        self.descriptionsAgreed = descriptionsAgreed
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }

    /// The highest role held decides what the user may do.
    public var role: Role { roles.max() ?? .tanuser }

    /// "Arzt5 Code-Beispiele" → "Arzt5": the first word of the display name.
    public var firstname: String { User.splitName(name).first }
    /// "Arzt5 Code-Beispiele" → "Code-Beispiele": everything after the first word.
    public var lastname: String { User.splitName(name).last }

    static func splitName(_ name: String) -> (first: String, last: String) {
        // Byte-level, because this runs for every user in every response.
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        let bytes = name.utf8
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return ("", "") }
        let trimmed = bytes[start...last]
        guard let space = trimmed.firstIndex(where: isSpace) else { return (String(Substring(trimmed)), "") }
        let rest = trimmed[space...].drop(while: isSpace)
        return (String(Substring(trimmed[..<space])), String(Substring(rest)))
    }

    /// Whether the account may sign in at `now`.
    public func isActive(at now: Int64) -> Bool {
        deletedAt == nil && isUnlocked && (expiresAt.map { $0 > now } ?? true)
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
