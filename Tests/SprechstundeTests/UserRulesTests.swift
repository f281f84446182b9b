import Testing

@testable import Sprechstunde

@Suite("User names")
struct UserNameTests {
    private func split(_ name: String) -> (String, String) {
        let user = User(companyID: 1, name: name, email: nil, roles: [.doc])
        return (user.firstname, user.lastname)
    }

    @Test("the contract's example")
    func contractExample() {
        let (first, last) = split("Arzt5 Code-Beispiele")
        #expect(first == "Arzt5")
        #expect(last == "Code-Beispiele")
    }

    @Test("a single word is the first name; the last name is empty")
    func singleWord() {
        let (first, last) = split("Madonna")
        #expect(first == "Madonna")
        #expect(last == "")
    }

    @Test("surrounding and repeated spaces are dropped at the split")
    func extraSpaces() {
        let (first, last) = split("   Arzt5     Code-Beispiele   ")
        #expect(first == "Arzt5")
        #expect(last == "Code-Beispiele")
        let (single, empty) = split("  Madonna  ")
        #expect(single == "Madonna")
        #expect(empty == "")
    }

    @Test("everything after the first word is the last name")
    func severalWords() {
        let (first, last) = split("Anna Maria von Schmidt")
        #expect(first == "Anna")
        #expect(last == "Maria von Schmidt")
    }

    @Test("a tab separates too")
    func tab() {
        let (first, last) = split("Anna\tSchmidt")
        #expect(first == "Anna")
        #expect(last == "Schmidt")
    }

    @Test("an empty or blank name gives empty parts")
    func empty() {
        for name in ["", "    "] {
            let (first, last) = split(name)
            #expect(first == "")
            #expect(last == "")
        }
    }

    @Test("non-ASCII names")
    func unicode() {
        let (first, last) = split("Jürgen Müller-Lüdenscheidt")
        #expect(first == "Jürgen")
        #expect(last == "Müller-Lüdenscheidt")
    }
}

@Suite("User activity")
struct UserActivityTests {
    @Test("active unless deleted, locked or expired")
    func isActive() {
        var user = User(companyID: 1, name: "a", email: "a@b.de", roles: [.doc])
        #expect(user.isActive(at: 1000))
        user.expiresAt = 1001
        #expect(user.isActive(at: 1000))
        #expect(!user.isActive(at: 1001))
        user.expiresAt = nil
        user.isUnlocked = false
        #expect(!user.isActive(at: 1000))
        user.isUnlocked = true
        user.deletedAt = 5
        #expect(!user.isActive(at: 1000))
    }
}

@Suite("Notification options")
struct NotificationOptionTests {
    @Test("complete lists every id in order with defaults off")
    func complete() {
        let stored = [
            NotificationOption(kind: .documentSent, enabled: true),
            NotificationOption(kind: .emailChannel, enabled: true, values: ["x@y.de"]),
        ]
        let all = NotificationOption.complete(stored)
        #expect(all.map(\.kind.rawValue) == [1001, 1002, 2001, 2002, 2003, 3001, 3002, 3003, 3004, 4001])
        #expect(all.filter(\.enabled).map(\.kind) == [.emailChannel, .documentSent])
        #expect(all[0].values == ["x@y.de"])
        #expect(all.dropFirst().allSatisfy { $0.values.isEmpty })
    }

    @Test("only 1001 and 1002 are channels")
    func channels() {
        #expect(NotificationOption.Kind.allCases.filter(\.isChannel) == [.emailChannel, .smsChannel])
    }
}

@Suite("UserRules")
struct UserRulesTests {
    @Test(
        "valid e-mail addresses",
        arguments: [
            "a@b.de", "arzt5@code-beispiele.de", "first.last+tag@sub.example.org", "UPPER@EXAMPLE.COM",
            "x_y-z@a-b.c-d.info",
            String(repeating: "l", count: 64) + "@example.org",
        ])
    func validEmails(_ email: String) {
        #expect(UserRules.isValidEmail(email))
    }

    @Test(
        "invalid e-mail addresses",
        arguments: [
            "", "a", "a@", "@b.de", "a@b", "a@@b.de", "a@b@c.de", "a b@c.de", "a@b .de", "a@b..de", "a@.b.de",
            "a@b.de.",
            "a@-b.de", "a@b-.de", "a,b@c.de", "a;b@c.de", "a@b.de\n", "\ta@b.de",
            String(repeating: "l", count: 65) + "@example.org",
            "a@" + String(repeating: "d", count: 250) + ".de",
        ])
    func invalidEmails(_ email: String) {
        #expect(!UserRules.isValidEmail(email))
    }

    @Test(
        "valid phone numbers",
        arguments: [
            "+49 170 1234567", "0170/1234567", "(030) 123-456", "12345", "+1.555.123.4567", "  +491701234567  ",
            String(repeating: "1", count: 20),
        ])
    func validPhones(_ phone: String) {
        #expect(UserRules.isValidPhone(phone))
    }

    @Test(
        "invalid phone numbers",
        arguments: [
            "", "+", "1234", "+49 170 abc", "++49 1701234567", "49+1701234567", String(repeating: "1", count: 21),
            "+49 ١٧٠١٢٣٤٥٦٧", "0170_1234567", "0170#1234567",
        ])
    func invalidPhones(_ phone: String) {
        #expect(!UserRules.isValidPhone(phone))
    }

    // MARK: check

    private func fields(_ input: UserInput, creating: Bool = false) -> [String] {
        var errors = ValidationErrors()
        UserRules.check(input, creating: creating, into: &errors)
        return errors.fields.map(\.0)
    }

    private func validNewUser() -> UserInput {
        var input = UserInput()
        input.name = "Arzt5 Code-Beispiele"
        input.email = "arzt5@code-beispiele.de"
        input.password = "arzt5@code-beispiele.de"
        input.roles = [2]
        return input
    }

    @Test("a complete new user passes")
    func validCreate() {
        #expect(fields(validNewUser(), creating: true) == [])
    }

    @Test("creating requires name, email, password and roles")
    func requiredOnCreate() {
        #expect(fields(UserInput(), creating: true) == ["name", "email", "password", "roles"])
        // An update may leave everything out.
        #expect(fields(UserInput(), creating: false) == [])
    }

    @Test("passwords need at least 8 characters")
    func passwordLength() {
        var input = validNewUser()
        input.password = "1234567"
        #expect(fields(input, creating: true) == ["password"])
        input.password = "12345678"
        #expect(fields(input, creating: true) == [])
        input.password = "äöüßäöüß"  // 8 characters, more bytes
        #expect(fields(input, creating: true) == [])
        input.password = String(repeating: "x", count: UserRules.maximumPasswordLength + 1)
        #expect(fields(input, creating: true) == ["password"])
        input.password = String(repeating: "x", count: UserRules.maximumPasswordLength)
        #expect(fields(input, creating: true) == [])
    }

    @Test("e-mail is checked after trimming; a bad one is refused")
    func email() {
        var input = UserInput()
        input.email = "  arzt5@code-beispiele.de "
        #expect(fields(input) == [])
        input.email = "not an address"
        #expect(fields(input) == ["email"])
    }

    @Test("a blank name is refused")
    func blankName() {
        var input = UserInput()
        input.name = "   "
        #expect(fields(input) == ["name"])
        input.name = String(repeating: "n", count: 256)
        #expect(fields(input) == ["name"])
    }

    @Test("roles 2, 3 and 4 can be given", arguments: [[2], [3], [4], [2, 3, 4], [2, 2]])
    func grantableRoles(_ roles: [Int]) {
        var input = UserInput()
        input.roles = roles
        #expect(fields(input) == [])
    }

    @Test(
        "roles 1 and 5, unknown ids and an empty list are refused", arguments: [[1], [5], [2, 5], [0], [6], [-1], []])
    func refusedRoles(_ roles: [Int]) {
        var input = UserInput()
        input.roles = roles
        #expect(fields(input) == ["roles"])
    }

    @Test("every notification id of the contract is accepted")
    func knownNotificationIDs() {
        var input = UserInput()
        input.notificationOptions = NotificationOption.Kind.allCases.map {
            NotificationOptionInput(notificationID: $0.rawValue, enabled: true)
        }
        #expect(fields(input) == [])
    }

    @Test("unknown notification ids are refused", arguments: [0, 1000, 1003, 2004, 4002, 9999, -1001])
    func unknownNotificationID(_ id: Int) {
        var input = UserInput()
        input.notificationOptions = [
            NotificationOptionInput(notificationID: 2001, enabled: true),
            NotificationOptionInput(notificationID: id, enabled: true),
        ]
        #expect(fields(input) == ["notification_options.1.notification_id"])
    }

    @Test("a notification id given twice is refused")
    func duplicateNotificationID() {
        var input = UserInput()
        input.notificationOptions = [
            NotificationOptionInput(notificationID: 2001, enabled: true),
            NotificationOptionInput(notificationID: 3001, enabled: false),
            NotificationOptionInput(notificationID: 2001, enabled: false),
        ]
        #expect(fields(input) == ["notification_options.2.notification_id"])
    }

    @Test("only 1001 and 1002 take a value")
    func valueOnlyForChannels() {
        var input = UserInput()
        input.notificationOptions = [
            NotificationOptionInput(notificationID: 1001, enabled: true, values: ["extra@example.org"]),
            NotificationOptionInput(notificationID: 1002, enabled: true, values: ["+49 170 1234567"]),
        ]
        #expect(fields(input) == [])
        for id in [2001, 2002, 2003, 3001, 3002, 3003, 3004, 4001] {
            input.notificationOptions = [NotificationOptionInput(notificationID: id, enabled: true, values: ["x@y.de"])]
            #expect(fields(input) == ["notification_options.0.value"], "\(id)")
        }
    }

    @Test("channel values must be addresses (1001) or phone numbers (1002)")
    func channelValues() {
        var input = UserInput()
        input.notificationOptions = [
            NotificationOptionInput(notificationID: 1001, enabled: true, values: ["+49 170 1234567"])
        ]
        #expect(fields(input) == ["notification_options.0.value"])
        input.notificationOptions = [NotificationOptionInput(notificationID: 1002, enabled: true, values: ["x@y.de"])]
        #expect(fields(input) == ["notification_options.0.value"])
        input.notificationOptions = [
            NotificationOptionInput(notificationID: 1001, enabled: true, values: Array(repeating: "a@b.de", count: 21))
        ]
        #expect(fields(input) == ["notification_options.0.value"])
    }

    @Test("gender, mobile, languages and lengths")
    func otherFields() {
        var input = UserInput()
        input.gender = "female"
        input.mobile = .some("+49 170 1234567")
        input.languages = ["de", "en"]
        #expect(fields(input) == [])
        input.mobile = .some(nil)  // clearing is fine
        #expect(fields(input) == [])

        var bad = UserInput()
        bad.gender = "unknown"
        bad.mobile = .some("call me")
        bad.languages = [""]
        bad.title = String(repeating: "t", count: 101)
        bad.extid = .some(String(repeating: "e", count: 256))
        bad.description = .some(String(repeating: "d", count: 5001))
        #expect(fields(bad) == ["gender", "title", "mobile", "languages", "extid", "description"])
    }

    @Test("every problem is reported at once, and check() throws .validation")
    func collectsAll() {
        var input = validNewUser()
        input.email = "nope"
        input.password = "short"
        input.roles = [5]
        var errors = ValidationErrors()
        UserRules.check(input, creating: true, into: &errors)
        #expect(errors.fields.map(\.0) == ["email", "password", "roles"])
        let error = #expect(throws: DomainError.self) { try errors.check() }
        #expect(error?.kind == .validation)
        #expect(error?.fieldErrors.map(\.0) == ["email", "password", "roles"])
        #expect(error?.message.contains("2 more problems") == true)
    }

    @Test("admin-only fields are named with their wire names")
    func adminOnlyFields() {
        var input = UserInput()
        input.title = "Dr."
        input.name = "x"
        #expect(input.adminOnlyFields == [])
        input.roles = [2]
        input.subsidiaryID = .some(nil)
        input.isUnlocked = false
        #expect(input.adminOnlyFields == ["roles", "ousubsidiary_id", "is_unlocked"])
    }
}

@Suite("PageRequest")
struct PageRequestTests {
    @Test("defaults: page 1, 15 per page")
    func defaults() throws {
        let request = try PageRequest.parse(page: nil, perPage: nil)
        #expect(request == PageRequest(page: 1, perPage: 15))
        #expect(request.offset == 0)
        #expect(PageRequest.defaultPerPage == 15)
    }

    @Test("given values and the offset")
    func given() throws {
        let request = try PageRequest.parse(page: "3", perPage: "20")
        #expect(request.page == 3)
        #expect(request.perPage == 20)
        #expect(request.offset == 40)
    }

    @Test("per_page accepts up to 10000")
    func maximum() throws {
        #expect(try PageRequest.parse(page: nil, perPage: "10000").perPage == 10_000)
        #expect(try PageRequest.parse(page: nil, perPage: "1").perPage == 1)
        let error = #expect(throws: DomainError.self) { try PageRequest.parse(page: nil, perPage: "10001") }
        #expect(error?.kind == .validation)
        #expect(error?.fieldErrors.map(\.0) == ["per_page"])
    }

    @Test("bad page values", arguments: ["0", "-1", "abc", "1.5", "", " 1", "1e3", "99999999999999999999", "1000001"])
    func badPage(_ value: String) {
        let error = #expect(throws: DomainError.self) { try PageRequest.parse(page: value, perPage: nil) }
        #expect(error?.kind == .validation)
        #expect(error?.fieldErrors.map(\.0) == ["page"])
    }

    @Test("bad per_page values", arguments: ["0", "-15", "x", "15.0", "", "10001", "99999999999999999999"])
    func badPerPage(_ value: String) {
        let error = #expect(throws: DomainError.self) { try PageRequest.parse(page: "1", perPage: value) }
        #expect(error?.fieldErrors.map(\.0) == ["per_page"])
    }

    @Test("both wrong: both reported")
    func bothWrong() {
        let error = #expect(throws: DomainError.self) { try PageRequest.parse(page: "0", perPage: "0") }
        #expect(error?.fieldErrors.map(\.0) == ["page", "per_page"])
    }

    @Test("last page")
    func lastPage() {
        #expect(Page<Int>(items: [], total: 0, request: PageRequest()).lastPage == 1)
        #expect(Page<Int>(items: [], total: 15, request: PageRequest()).lastPage == 1)
        #expect(Page<Int>(items: [], total: 16, request: PageRequest()).lastPage == 2)
        #expect(Page<Int>(items: [], total: 31, request: PageRequest(page: 1, perPage: 10)).lastPage == 4)
        #expect(Page(items: [1, 2], total: 9, request: PageRequest()).map { $0 * 10 }.items == [10, 20])
    }
}
