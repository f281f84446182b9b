/// What `POST /api/v2/calls` asks for.
public struct CallInput: Sendable {
    public var duration: Int64?
    public var callType: String?
    public var tanUsername: String?
    public var tanEmail: String?
    public var tanMobile: String?
    public var tanDataAgreed: Bool?
    public var additionalCallees: [CalleeInput] = []
    public var begin: Int64?
    public var description: String?
    public var extid: String?
    public var extendable: Bool?

    public init() {}
}

/// One entry of `additional_callees`: an ak user (`user_id`), one more TAN user (`name`), or both.
public struct CalleeInput: Sendable, Equatable {
    public var userID: Int64?
    public var name: String?
    public var email: String?
    public var mobile: String?

    public init(userID: Int64? = nil, name: String? = nil, email: String? = nil, mobile: String? = nil) {
        self.userID = userID
        self.name = name
        self.email = email
        self.mobile = mobile
    }
}

/// What `PUT|PATCH /api/v2/calls/{id}` may change; nil is "not given", `.some(nil)` clears.
public struct CallPatch: Sendable {
    public var begin: Int64?
    public var duration: Int64?
    public var description: String??
    public var extid: String??
    public var extendable: Bool??

    public init() {}
}

/// Limits of call fields.
public enum CallRules {
    public static let durationRange: ClosedRange<Int64> = 1...1440
    /// Begin may lie up to a day in the past (clock skew, calls entered late) and up to two years ahead.
    public static let maximumPastBegin: Int64 = 86_400
    public static let maximumFutureBegin: Int64 = 2 * 366 * 86_400
    /// A mesh call carries at most this many people (see the video design).
    public static let maximumParticipants = 6

    static func checkDuration(_ duration: Int64?, required: Bool, into errors: inout ValidationErrors) {
        guard let duration else {
            if required { errors.add("duration", "duration is required: the planned length in minutes (1-1440).") }
            return
        }
        if !durationRange.contains(duration) {
            errors.add("duration", "duration must be between 1 and 1440 minutes.")
        }
    }

    static func checkBegin(_ begin: Int64?, now: Int64, into errors: inout ValidationErrors) {
        guard let begin else { return }
        if begin < now - maximumPastBegin || begin > now + maximumFutureBegin {
            errors.add("begin", "begin must be a Unix time from a day ago to two years ahead.")
        }
    }

    static func checkText(
        _ field: String, _ value: String?, maximum: Int, into errors: inout ValidationErrors
    ) {
        if let value, value.count > maximum { errors.add(field, "\(field) may be at most \(maximum) characters long.") }
    }

    static func checkPerson(
        prefix: String, nameField: String, name: String, email: String?, mobile: String?, emailField: String,
        mobileField: String, into errors: inout ValidationErrors
    ) {
        if name.trimmingWhitespace.isEmpty { errors.add(nameField, "\(nameField) must not be empty.") }
        if UserRules.hasControlCharacters(name) {
            errors.add(nameField, "\(nameField) must not contain control characters.")
        }
        checkText(nameField, name, maximum: 255, into: &errors)
        if let email, !email.isEmpty, !UserRules.isValidEmail(email.trimmingWhitespace) {
            errors.add(emailField, "\(emailField) must be a valid e-mail address.")
        }
        if let mobile, !mobile.isEmpty, !UserRules.isValidPhone(mobile) {
            errors.add(mobileField, "\(mobileField) must be a phone number such as +49 170 1234567.")
        }
    }
}
