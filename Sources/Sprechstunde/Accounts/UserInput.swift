/// What a client asked to set on a user. `nil` means "not given"; for nullable fields,
/// `.some(nil)` means "clear it".
public struct UserInput: Sendable {
    public var name: String?
    public var email: String?
    public var password: String?
    public var companyID: Company.ID?
    public var roles: [Int]?
    public var notificationOptions: [NotificationOptionInput]?
    public var title: String?
    public var gender: String?
    public var mobile: String??
    public var languages: [String]?
    public var extid: String??
    public var description: String??
    public var subsidiaryID: OrganisationUnit.ID??
    public var locationID: OrganisationUnit.ID??
    public var departmentID: OrganisationUnit.ID??
    public var expiresAt: Int64??
    public var isUnlocked: Bool?

    public init() {}

    /// Fields only an admin may set, with their wire names.
    var adminOnlyFields: [String] {
        var fields: [String] = []
        if roles != nil { fields.append("roles") }
        if companyID != nil { fields.append("company_id") }
        if subsidiaryID != nil { fields.append("ousubsidiary_id") }
        if locationID != nil { fields.append("oulocation_id") }
        if departmentID != nil { fields.append("department_id") }
        if expiresAt != nil { fields.append("expires_at") }
        if isUnlocked != nil { fields.append("is_unlocked") }
        if extid != nil { fields.append("extid") }
        return fields
    }
}

public struct NotificationOptionInput: Sendable, Equatable {
    public var notificationID: Int
    public var enabled: Bool
    public var values: [String]

    public init(notificationID: Int, enabled: Bool, values: [String] = []) {
        self.notificationID = notificationID
        self.enabled = enabled
        self.values = values
    }
}

/// Format rules for user fields, shared by create and update.
public enum UserRules {
    public static let genders = ["male", "female", "diverse", "notset"]
    public static let minimumPasswordLength = 8
    /// Argon2id over megabytes of password is a denial of service; nobody types more.
    public static let maximumPasswordLength = 1024

    /// Control characters (NUL, escapes, line breaks) have no place in names or addresses and
    /// break the systems this data is handed to (mail, CSV, logs).
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    public static func isValidEmail(_ email: String) -> Bool {
        guard email.count <= 254, !hasControlCharacters(email),
            !email.contains(where: { $0.isWhitespace || $0 == "," || $0 == ";" })
        else {
            return false
        }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }

    /// International or national phone numbers: an optional '+', then digits with optional
    /// spaces, dashes, dots, slashes or parentheses; 5 to 20 digits.
    public static func isValidPhone(_ phone: String) -> Bool {
        var body = Substring(phone.trimmingWhitespace)
        if body.first == "+" { body = body.dropFirst() }
        guard body.allSatisfy({ $0.isASCII && ($0.isNumber || " -./()".contains($0)) }) else { return false }
        let digits = body.filter(\.isNumber).count
        return (5...20).contains(digits)
    }

    static func check(_ input: UserInput, creating: Bool, into errors: inout ValidationErrors) {
        func checkLength(_ field: String, _ value: String?, max: Int) {
            if let value, value.count > max { errors.add(field, "\(field) may be at most \(max) characters long.") }
        }
        if creating {
            if input.name == nil { errors.add("name", "name is required.") }
            if input.email == nil { errors.add("email", "email is required.") }
            if input.password == nil { errors.add("password", "password is required.") }
            if input.roles == nil {
                errors.add("roles", "roles is required: a list of role ids, e.g. [2] for a doctor.")
            }
        }
        if let name = input.name {
            if name.trimmingWhitespace.isEmpty { errors.add("name", "name must not be empty.") }
            if hasControlCharacters(name) { errors.add("name", "name must not contain control characters.") }
            checkLength("name", name, max: 255)
        }
        if let email = input.email, !isValidEmail(email.trimmingWhitespace) {
            errors.add("email", "email must be a valid e-mail address.")
        }
        if let password = input.password {
            if password.count < minimumPasswordLength {
                errors.add("password", "password must be at least \(minimumPasswordLength) characters long.")
            }
            checkLength("password", password, max: maximumPasswordLength)
        }
        if let roles = input.roles {
            if roles.isEmpty { errors.add("roles", "roles must name at least one role id.") }
            for id in roles {
                switch Role(rawValue: id) {
                case nil: errors.add("roles", "\(id) is not a role id; use 2 (doc), 3 (assistant) or 4 (admin).")
                case .tanuser: errors.add("roles", "TAN users (role 1) are created with a call, not as users.")
                case .superadmin: errors.add("roles", "superadmins (role 5) can only be created on the command line.")
                default: break
                }
            }
        }
        if let options = input.notificationOptions {
            var seen = Set<Int>()
            for (index, option) in options.enumerated() {
                let field = "notification_options.\(index)"
                guard let kind = NotificationOption.Kind(rawValue: option.notificationID) else {
                    let known = NotificationOption.Kind.allCases.map { String($0.rawValue) }.joined(separator: ", ")
                    errors.add(
                        "\(field).notification_id",
                        "\(option.notificationID) is not a notification id; known: \(known).")
                    continue
                }
                if !seen.insert(option.notificationID).inserted {
                    errors.add("\(field).notification_id", "notification \(option.notificationID) is given twice.")
                }
                if !option.values.isEmpty && !kind.isChannel {
                    errors.add("\(field).value", "only notifications 1001 (e-mail) and 1002 (SMS) take a value.")
                }
                if option.values.count > 20 {
                    errors.add("\(field).value", "at most 20 extra addresses or numbers.")
                }
                for value in option.values {
                    if kind == .emailChannel && !isValidEmail(value) {
                        errors.add("\(field).value", "'\(value)' is not a valid e-mail address.")
                    }
                    if kind == .smsChannel && !isValidPhone(value) {
                        errors.add("\(field).value", "'\(value)' is not a valid phone number.")
                    }
                }
            }
        }
        if let gender = input.gender, !genders.contains(gender) {
            errors.add("gender", "gender must be one of \(genders.joined(separator: ", ")).")
        }
        if let title = input.title { checkLength("title", title, max: 100) }
        if case .some(.some(let mobile)) = input.mobile, !isValidPhone(mobile) {
            errors.add("mobile", "mobile must be a phone number such as +49 170 1234567.")
        }
        if let languages = input.languages {
            if languages.count > 20 { errors.add("languages", "at most 20 languages.") }
            if languages.contains(where: { $0.isEmpty || $0.count > 35 }) {
                errors.add("languages", "each language must be a non-empty code such as \"de\" or \"en\".")
            }
        }
        if case .some(.some(let extid)) = input.extid { checkLength("extid", extid, max: 255) }
        if case .some(.some(let description)) = input.description { checkLength("description", description, max: 5000) }
    }
}
