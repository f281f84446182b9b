import Foundation
import Sprechstunde
import Testing

@testable import SprechstundeSQLite

/// A directory of its own for each test, removed afterwards.
final class TemporaryDatabase {
    let directory: URL
    var path: String { directory.appendingPathComponent("store.sqlite").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sprechstunde-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func open() throws -> SQLiteStore { try SQLiteStore(path: path, readers: 2) }
}

private func account(
    _ email: String?, company: Company.ID?, name: String = "Test Person", roles: [Role] = [.doc], now: Int64 = 100
) -> User {
    User(companyID: company, name: name, email: email, roles: roles, createdAt: now, updatedAt: now)
}

/// Runs one SQL query on the store's writer connection.
private func query(_ store: SQLiteStore, _ sql: String) throws -> [Row] {
    try store.database.write { try $0.query(sql) }
}

@Suite("SQLite database file")
struct SQLiteFileTests {
    let temporary: TemporaryDatabase
    init() throws { temporary = try TemporaryDatabase() }

    @Test("migrations are applied to a new file")
    func migrations() throws {
        let store = try temporary.open()
        #expect(try store.database.schemaVersion() == Migrations.all.last!.version)
        #expect(try store.database.schemaVersion() >= 1)
        let tables = try query(store, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap {
            $0.text(0)
        }
        for table in [
            "access_tokens", "companies", "machine_clients", "notification_options", "organisation_units",
            "schema_migrations",
            "user_roles", "users",
        ] {
            #expect(tables.contains(table), "\(table)")
        }
        #expect(throws: Never.self) { try store.checkHealth() }
    }

    @Test("reopening keeps the data and does not re-run migrations")
    func reopen() throws {
        var companyID: Company.ID = 0
        var userID: User.ID = 0
        do {
            let store = try temporary.open()
            companyID = try store.insertCompany(name: "Praxis", extid: "p-1", now: 10).id
            userID = try store.insertUser(account("a@b.de", company: companyID), passwordHash: "hash").id
            try store.insertToken(hash: Crypto.sha256("t"), owner: .user(userID), expiresAt: 1000, now: 10)
        }
        let store = try temporary.open()
        #expect(try store.company(id: companyID)?.name == "Praxis")
        #expect(try store.company(id: companyID)?.extid == "p-1")
        #expect(try store.user(id: userID)?.email == "a@b.de")
        #expect(try store.account(email: "a@b.de")?.passwordHash == "hash")
        #expect(try store.tokenOwner(hash: Crypto.sha256("t"), now: 11) == .user(userID))
        #expect(try query(store, "SELECT count(*) FROM schema_migrations").first?.int(0) == Int64(Migrations.all.count))
        #expect(try store.database.schemaVersion() == Migrations.all.last!.version)
    }

    @Test("a database from a newer build is refused")
    func newerSchemaRefused() throws {
        do {
            let store = try temporary.open()
            _ = try store.database.write {
                try $0.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
            }
        }
        let error = #expect(throws: SQLiteError.self) { try temporary.open() }
        #expect(error?.message.contains("9999") == true)
    }

    @Test("the database runs in WAL mode")
    func walMode() throws {
        let store = try temporary.open()
        #expect(try query(store, "PRAGMA journal_mode").first?.text(0) == "wal")
        _ = try store.insertCompany(name: "x", extid: nil, now: 1)
        #expect(FileManager.default.fileExists(atPath: temporary.path + "-wal"))
        // WAL is a property of the file: a fresh connection sees it too.
        let reader = try Database(path: temporary.path, readers: 1)
        #expect(try reader.read { try $0.query("PRAGMA journal_mode") }.first?.text(0) == "wal")
    }

    @Test("foreign keys are enforced")
    func foreignKeys() throws {
        let store = try temporary.open()
        #expect(try query(store, "PRAGMA foreign_keys").first?.int(0) == 1)
        let error = #expect(throws: SQLiteError.self) {
            try store.insertUnit(kind: .department, companyID: 4711, name: "orphan", now: 1)
        }
        #expect(error?.isUniqueViolation == false)
    }

    @Test("a failed write is rolled back completely")
    func rollback() throws {
        let store = try temporary.open()
        let company = try store.insertCompany(name: "Praxis", extid: nil, now: 1)
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try store.database.write { connection in
                try connection.run("UPDATE companies SET name = 'changed' WHERE id = ?", [.int(company.id)])
                throw Abort()
            }
        }
        #expect(try store.company(id: company.id)?.name == "Praxis")
    }
}

@Suite("SQLite users")
struct SQLiteUserTests {
    let temporary: TemporaryDatabase
    let store: SQLiteStore
    let company: Company

    init() throws {
        temporary = try TemporaryDatabase()
        store = try temporary.open()
        company = try store.insertCompany(name: "Praxis", extid: nil, now: 1)
    }

    @Test("a user round-trips with every field")
    func roundTrip() throws {
        let subsidiary = try store.insertUnit(kind: .subsidiary, companyID: company.id, name: "Filiale", now: 1)
        var user = account(
            "full@example.org", company: company.id, name: "Arzt5 Code-Beispiele", roles: [.doc, .admin])
        user.title = "Dr."
        user.gender = "diverse"
        user.mobile = "+49 170 1234567"
        user.languages = ["de", "en", "tr"]
        user.extid = "ext-1"
        user.description = "Zeile 1\nZeile 2"
        user.subsidiaryID = subsidiary.id
        user.expiresAt = 5000
        user.isUnlocked = false
        user.dataAgreed = true
        let stored = try store.insertUser(user, passwordHash: "h")
        #expect(stored.id > 0)
        var expected = user
        expected.id = stored.id
        expected.companyName = "Praxis"
        expected.subsidiaryName = "Filiale"
        #expect(stored == expected)
        #expect(try store.user(id: stored.id) == expected)
    }

    @Test("account e-mail is unique among live accounts")
    func uniqueEmail() throws {
        let first = try store.insertUser(account("dup@example.org", company: company.id), passwordHash: "h")
        let error = #expect(throws: UniqueViolation.self) {
            try store.insertUser(account("dup@example.org", company: company.id), passwordHash: "h")
        }
        #expect(error?.field == "email")
        // Changing another account's e-mail to it fails the same way and changes nothing.
        var second = try store.insertUser(account("other@example.org", company: company.id), passwordHash: "h")
        second.email = "dup@example.org"
        #expect(throws: UniqueViolation.self) { try store.updateUser(second, passwordHash: nil) }
        #expect(try store.user(id: second.id)?.email == "other@example.org")
        #expect(try store.account(email: "dup@example.org")?.0.id == first.id)
    }

    @Test("a soft-deleted account's e-mail can be used again")
    func reuseDeletedEmail() throws {
        let first = try store.insertUser(account("reuse@example.org", company: company.id), passwordHash: "old")
        try store.deleteUser(id: first.id, now: 200)
        #expect(try store.user(id: first.id) == nil)
        #expect(try store.account(email: "reuse@example.org") == nil)
        let second = try store.insertUser(account("reuse@example.org", company: company.id), passwordHash: "new")
        #expect(second.id != first.id)
        #expect(try store.account(email: "reuse@example.org")?.passwordHash == "new")
        // The deleted row stays in the table with its deletion time.
        #expect(try query(store, "SELECT deleted_at FROM users WHERE id = \(first.id)").first?.int(0) == 200)
    }

    @Test("TAN users may share an address with each other and with an account")
    func tanUsersShareEmail() throws {
        _ = try store.insertUser(account("patient@example.org", company: company.id), passwordHash: "h")
        let tan1 = try store.insertUser(
            account("patient@example.org", company: company.id, roles: [.tanuser]), passwordHash: nil)
        let tan2 = try store.insertUser(
            account("patient@example.org", company: company.id, roles: [.tanuser]), passwordHash: nil)
        #expect(tan1.id != tan2.id)
        // Sign-in finds the account, never a TAN user.
        #expect(try store.account(email: "patient@example.org")?.0.roles == [.doc])
    }

    @Test("account lookup gives the hash; TAN users and unknown addresses give nil")
    func accountLookup() throws {
        _ = try store.insertUser(account("tan@example.org", company: company.id, roles: [.tanuser]), passwordHash: nil)
        #expect(try store.account(email: "tan@example.org") == nil)
        #expect(try store.account(email: "nobody@example.org") == nil)
        let user = try store.insertUser(account("doc@example.org", company: company.id), passwordHash: "$argon2id$x")
        let found = try #require(try store.account(email: "doc@example.org"))
        #expect(found.0.id == user.id)
        #expect(found.passwordHash == "$argon2id$x")
    }

    @Test("updating without a hash keeps the password; with one replaces it")
    func passwordKept() throws {
        var user = try store.insertUser(account("pw@example.org", company: company.id), passwordHash: "one")
        user.title = "Prof."
        try store.updateUser(user, passwordHash: nil)
        #expect(try store.account(email: "pw@example.org")?.passwordHash == "one")
        #expect(try store.user(id: user.id)?.title == "Prof.")
        try store.updateUser(user, passwordHash: "two")
        #expect(try store.account(email: "pw@example.org")?.passwordHash == "two")
    }

    @Test("notification options round-trip")
    func notificationOptions() throws {
        var user = account("notify@example.org", company: company.id)
        user.notificationOptions = [
            NotificationOption(kind: .appointmentCreated, enabled: false),
            NotificationOption(kind: .emailChannel, enabled: true, values: ["a@example.org", "b@example.org"]),
            NotificationOption(kind: .smsChannel, enabled: true, values: ["+49 170 1234567", "(030) 123-456"]),
            NotificationOption(kind: .patientEmailInvalid, enabled: true),
        ]
        let stored = try store.insertUser(user, passwordHash: nil)
        let expected = user.notificationOptions.sorted { $0.kind.rawValue < $1.kind.rawValue }
        #expect(stored.notificationOptions == expected)
        #expect(try store.user(id: stored.id)?.notificationOptions == expected)

        // Replacing them drops the ones left out.
        var changed = try #require(try store.user(id: stored.id))
        changed.notificationOptions = [NotificationOption(kind: .smsChannel, enabled: false, values: [])]
        try store.updateUser(changed, passwordHash: nil)
        #expect(
            try store.user(id: stored.id)?.notificationOptions == [
                NotificationOption(kind: .smsChannel, enabled: false)
            ])
        // And they come back through lists too.
        let listed = try store.users(UserQuery(onlyUserID: stored.id))
        #expect(listed.items.first?.notificationOptions == [NotificationOption(kind: .smsChannel, enabled: false)])
    }

    @Test("roles round-trip, sorted and without duplicates")
    func roles() throws {
        var user = account("roles@example.org", company: company.id, roles: [.admin, .doc, .admin])
        let stored = try store.insertUser(user, passwordHash: nil)
        #expect(stored.roles == [.doc, .admin])
        user = stored
        user.roles = [.assistant]
        try store.updateUser(user, passwordHash: nil)
        #expect(try store.user(id: stored.id)?.roles == [.assistant])
    }

    @Test("pagination totals and offsets")
    func pagination() throws {
        let other = try store.insertCompany(name: "Andere", extid: nil, now: 1)
        var ids: [User.ID] = []
        for index in 1...23 {
            ids.append(
                try store.insertUser(account("u\(index)@example.org", company: company.id), passwordHash: nil).id)
        }
        for index in 1...4 {
            _ = try store.insertUser(account("o\(index)@example.org", company: other.id), passwordHash: nil)
        }

        let first = try store.users(UserQuery(companyID: company.id, page: PageRequest(page: 1, perPage: 10)))
        #expect(first.total == 23)
        #expect(first.items.map(\.id) == Array(ids[0..<10]))
        #expect(first.lastPage == 3)
        let third = try store.users(UserQuery(companyID: company.id, page: PageRequest(page: 3, perPage: 10)))
        #expect(third.items.map(\.id) == Array(ids[20..<23]))
        #expect(third.total == 23)
        let beyond = try store.users(UserQuery(companyID: company.id, page: PageRequest(page: 4, perPage: 10)))
        #expect(beyond.items.isEmpty)
        #expect(beyond.total == 23)
        let everything = try store.users(UserQuery(page: PageRequest(page: 1, perPage: 10_000)))
        #expect(everything.total == 27)
        #expect(everything.items.count == 27)
    }

    @Test("company pagination")
    func companyPagination() throws {
        var ids = [company.id]
        for index in 2...7 { ids.append(try store.insertCompany(name: "C\(index)", extid: nil, now: 1).id) }
        let second = try store.companies(onlyID: nil, page: PageRequest(page: 2, perPage: 3))
        #expect(second.total == 7)
        #expect(second.items.map(\.id) == Array(ids[3..<6]))
        let only = try store.companies(onlyID: ids[4], page: PageRequest())
        #expect(only.total == 1)
        #expect(only.items.map(\.id) == [ids[4]])
        try store.deleteCompany(id: ids[4], now: 9)
        #expect(try store.companies(onlyID: ids[4], page: PageRequest()).total == 0)
        #expect(try store.companies(onlyID: nil, page: PageRequest()).total == 6)
    }

    @Test("search matches name or e-mail, case-insensitively")
    func search() throws {
        let arzt = try store.insertUser(
            account("arzt5@code-beispiele.de", company: company.id, name: "Arzt5 Code-Beispiele"), passwordHash: nil)
        let other = try store.insertUser(
            account("info@praxis.example", company: company.id, name: "Erika Mustermann"), passwordHash: nil)
        #expect(try store.users(UserQuery(search: "ARZT5")).items.map(\.id) == [arzt.id])
        #expect(try store.users(UserQuery(search: "code-beispiele")).items.map(\.id) == [arzt.id])
        #expect(try store.users(UserQuery(search: "PRAXIS.example")).items.map(\.id) == [other.id])
        #expect(try store.users(UserQuery(search: "muster")).items.map(\.id) == [other.id])
        #expect(try store.users(UserQuery(search: "nobody")).total == 0)
        #expect(try store.users(UserQuery(search: "")).total == 2)
    }

    @Test("LIKE wildcards in a search match literally")
    func searchEscapesWildcards() throws {
        let percent = try store.insertUser(
            account("p@example.org", company: company.id, name: "100% Praxis"), passwordHash: nil)
        _ = try store.insertUser(account("q@example.org", company: company.id, name: "1000 Praxis"), passwordHash: nil)
        let underscore = try store.insertUser(
            account("under_score@example.org", company: company.id, name: "Unter Strich"), passwordHash: nil)
        _ = try store.insertUser(
            account("underXscore@example.org", company: company.id, name: "Unter X"), passwordHash: nil)
        let backslash = try store.insertUser(
            account("b@example.org", company: company.id, name: #"Back\slash"#), passwordHash: nil)

        #expect(try store.users(UserQuery(search: "100%")).items.map(\.id) == [percent.id])
        #expect(try store.users(UserQuery(search: "%")).items.map(\.id) == [percent.id])
        #expect(try store.users(UserQuery(search: "under_")).items.map(\.id) == [underscore.id])
        #expect(try store.users(UserQuery(search: "_")).items.map(\.id) == [underscore.id])
        #expect(try store.users(UserQuery(search: #"\"#)).items.map(\.id) == [backslash.id])
        #expect(try store.users(UserQuery(search: #"k\s"#)).items.map(\.id) == [backslash.id])
    }

    @Test("search is case-insensitive for non-ASCII letters too")
    func searchUnicodeCase() throws {
        let user = try store.insertUser(
            account("ue@example.org", company: company.id, name: "Übel Ärztin"), passwordHash: nil)
        _ = try store.insertUser(
            account("other@example.org", company: company.id, name: "Ubel Arztin"), passwordHash: nil)
        #expect(try store.users(UserQuery(search: "Übel")).items.map(\.id) == [user.id])
        #expect(try store.users(UserQuery(search: "übel")).items.map(\.id) == [user.id])
        #expect(try store.users(UserQuery(search: "ÄRZTIN")).items.map(\.id) == [user.id])
        #expect(try store.users(UserQuery(search: "ärztin")).items.map(\.id) == [user.id])
    }

    @Test("search follows changes of name and e-mail")
    func searchAfterUpdate() throws {
        var user = try store.insertUser(
            account("old@example.org", company: company.id, name: "Alter Name"), passwordHash: nil)
        user.name = "Neuer Name"
        user.email = "new@example.org"
        try store.updateUser(user, passwordHash: nil)
        #expect(try store.users(UserQuery(search: "alter")).total == 0)
        #expect(try store.users(UserQuery(search: "old@")).total == 0)
        #expect(try store.users(UserQuery(search: "neuer")).items.map(\.id) == [user.id])
        #expect(try store.users(UserQuery(search: "new@")).items.map(\.id) == [user.id])
    }

    @Test("role filter; TAN users are never listed")
    func roleFilter() throws {
        let doc = try store.insertUser(account("d@example.org", company: company.id, roles: [.doc]), passwordHash: nil)
        let admin = try store.insertUser(
            account("a@example.org", company: company.id, roles: [.admin]), passwordHash: nil)
        let both = try store.insertUser(
            account("b@example.org", company: company.id, roles: [.doc, .assistant]), passwordHash: nil)
        let tan = try store.insertUser(
            account("t@example.org", company: company.id, roles: [.tanuser]), passwordHash: nil)

        #expect(try store.users(UserQuery(role: .doc)).items.map(\.id) == [doc.id, both.id])
        #expect(try store.users(UserQuery(role: .assistant)).items.map(\.id) == [both.id])
        #expect(try store.users(UserQuery(role: .admin)).items.map(\.id) == [admin.id])
        #expect(try store.users(UserQuery(role: .superadmin)).total == 0)
        #expect(try store.users(UserQuery(role: .tanuser)).total == 0)
        #expect(try store.user(id: tan.id)?.roles == [.tanuser])
        #expect(try store.users(UserQuery()).items.map(\.id) == [doc.id, admin.id, both.id])
        #expect(try store.users(UserQuery(role: .doc, onlyUserID: both.id)).items.map(\.id) == [both.id])
        #expect(try store.users(UserQuery(search: "d@", role: .doc)).items.map(\.id) == [doc.id])
    }

    @Test("deleted users leave lists and lookups")
    func deletedUsers() throws {
        let user = try store.insertUser(account("gone@example.org", company: company.id), passwordHash: nil)
        try store.deleteUser(id: user.id, now: 5)
        #expect(try store.user(id: user.id) == nil)
        #expect(try store.users(UserQuery()).total == 0)
        // Updating a deleted user changes nothing.
        var changed = user
        changed.name = "Zombie"
        try store.updateUser(changed, passwordHash: nil)
        #expect(try query(store, "SELECT name FROM users WHERE id = \(user.id)").first?.text(0) == "Test Person")
    }
}

@Suite("SQLite organisation units")
struct SQLiteOrganisationTests {
    let temporary: TemporaryDatabase
    let store: SQLiteStore
    let company: Company

    init() throws {
        temporary = try TemporaryDatabase()
        store = try temporary.open()
        company = try store.insertCompany(name: "Praxis", extid: nil, now: 1)
    }

    @Test("deleting a unit clears the users' reference and keeps the users")
    func deleteUnitClearsReference() throws {
        let subsidiary = try store.insertUnit(kind: .subsidiary, companyID: company.id, name: "Filiale", now: 1)
        let location = try store.insertUnit(kind: .location, companyID: company.id, name: "Standort", now: 1)
        var user = account("unit@example.org", company: company.id)
        user.subsidiaryID = subsidiary.id
        user.locationID = location.id
        let stored = try store.insertUser(user, passwordHash: nil)
        #expect(stored.subsidiaryName == "Filiale")

        try store.deleteUnit(kind: .subsidiary, id: subsidiary.id)
        let after = try #require(try store.user(id: stored.id))
        #expect(after.subsidiaryID == nil)
        #expect(after.subsidiaryName == nil)
        #expect(after.locationID == location.id)
        #expect(after.locationName == "Standort")
        #expect(try store.unit(kind: .subsidiary, id: subsidiary.id) == nil)
    }

    @Test("deleting with the wrong kind deletes nothing")
    func deleteWrongKind() throws {
        let unit = try store.insertUnit(kind: .department, companyID: company.id, name: "Kardiologie", now: 1)
        try store.deleteUnit(kind: .location, id: unit.id)
        #expect(try store.unit(kind: .department, id: unit.id)?.name == "Kardiologie")
        #expect(try store.unit(kind: .location, id: unit.id) == nil)
    }

    @Test("units list by kind and company with totals")
    func listUnits() throws {
        let other = try store.insertCompany(name: "Andere", extid: nil, now: 1)
        for index in 1...5 {
            _ = try store.insertUnit(kind: .location, companyID: company.id, name: "L\(index)", now: 1)
        }
        _ = try store.insertUnit(kind: .location, companyID: other.id, name: "fremd", now: 1)
        _ = try store.insertUnit(kind: .department, companyID: company.id, name: "D", now: 1)
        let page = try store.units(kind: .location, companyID: company.id, page: PageRequest(page: 2, perPage: 2))
        #expect(page.total == 5)
        #expect(page.items.map(\.name) == ["L3", "L4"])
        #expect(try store.units(kind: .location, companyID: nil, page: PageRequest()).total == 6)
        #expect(try store.units(kind: .department, companyID: other.id, page: PageRequest()).total == 0)
    }

    @Test("renaming a unit")
    func rename() throws {
        var unit = try store.insertUnit(kind: .location, companyID: company.id, name: "Alt", now: 1)
        unit.name = "Neu"
        unit.updatedAt = 50
        try store.updateUnit(unit)
        #expect(try store.unit(kind: .location, id: unit.id) == unit)
    }
}

@Suite("SQLite tokens and clients")
struct SQLiteTokenTests {
    let temporary: TemporaryDatabase
    let store: SQLiteStore
    let company: Company

    init() throws {
        temporary = try TemporaryDatabase()
        store = try temporary.open()
        company = try store.insertCompany(name: "Praxis", extid: nil, now: 1)
    }

    private func hash(_ name: String) -> [UInt8] { Crypto.sha256(name) }

    @Test("a token is live until it expires or is revoked")
    func tokenLifetime() throws {
        let user = try store.insertUser(account("t@example.org", company: company.id), passwordHash: nil)
        try store.insertToken(hash: hash("a"), owner: .user(user.id), expiresAt: 100, now: 0)
        #expect(try store.tokenOwner(hash: hash("a"), now: 99) == .user(user.id))
        #expect(try store.tokenOwner(hash: hash("a"), now: 100) == nil)
        #expect(try store.tokenOwner(hash: hash("unknown"), now: 0) == nil)

        try store.insertToken(hash: hash("b"), owner: .user(user.id), expiresAt: 100, now: 0)
        try store.revokeToken(hash: hash("b"), now: 10)
        #expect(try store.tokenOwner(hash: hash("b"), now: 11) == nil)
    }

    @Test("a token hash is unique")
    func uniqueTokenHash() throws {
        let user = try store.insertUser(account("t@example.org", company: company.id), passwordHash: nil)
        try store.insertToken(hash: hash("a"), owner: .user(user.id), expiresAt: 100, now: 0)
        let error = #expect(throws: UniqueViolation.self) {
            try store.insertToken(hash: hash("a"), owner: .user(user.id), expiresAt: 200, now: 0)
        }
        #expect(error?.field == "token")
    }

    @Test("deleting a user revokes its tokens only")
    func deleteUserRevokes() throws {
        let one = try store.insertUser(account("one@example.org", company: company.id), passwordHash: nil)
        let two = try store.insertUser(account("two@example.org", company: company.id), passwordHash: nil)
        try store.insertToken(hash: hash("one"), owner: .user(one.id), expiresAt: 1000, now: 0)
        try store.insertToken(hash: hash("two"), owner: .user(two.id), expiresAt: 1000, now: 0)
        try store.deleteUser(id: one.id, now: 5)
        #expect(try store.tokenOwner(hash: hash("one"), now: 6) == nil)
        #expect(try store.tokenOwner(hash: hash("two"), now: 6) == .user(two.id))
    }

    @Test("locking a user or changing the password revokes its tokens")
    func lockRevokes() throws {
        var user = try store.insertUser(account("lock@example.org", company: company.id), passwordHash: "h")
        try store.insertToken(hash: hash("a"), owner: .user(user.id), expiresAt: 1000, now: 0)
        user.title = "Dr."
        try store.updateUser(user, passwordHash: nil)
        #expect(try store.tokenOwner(hash: hash("a"), now: 1) == .user(user.id))
        user.isUnlocked = false
        try store.updateUser(user, passwordHash: nil)
        #expect(try store.tokenOwner(hash: hash("a"), now: 1) == nil)

        user.isUnlocked = true
        try store.updateUser(user, passwordHash: nil)
        try store.insertToken(hash: hash("b"), owner: .user(user.id), expiresAt: 1000, now: 0)
        try store.updateUser(user, passwordHash: "new")
        #expect(try store.tokenOwner(hash: hash("b"), now: 1) == nil)
    }

    @Test("deleteCompany revokes its users' tokens and its clients, and nothing of other companies")
    func deleteCompany() throws {
        let other = try store.insertCompany(name: "Andere", extid: nil, now: 1)
        let user = try store.insertUser(account("u@example.org", company: company.id), passwordHash: "h")
        let otherUser = try store.insertUser(account("o@example.org", company: other.id), passwordHash: "h")
        let client = try store.insertClient(
            companyID: company.id, clientID: "client_a", name: "A", secretHash: "s", now: 1)
        let otherClient = try store.insertClient(
            companyID: other.id, clientID: "client_o", name: "O", secretHash: "s", now: 1)
        try store.insertToken(hash: hash("user"), owner: .user(user.id), expiresAt: 1000, now: 1)
        try store.insertToken(hash: hash("client"), owner: .client(client.id), expiresAt: 1000, now: 1)
        try store.insertToken(hash: hash("otherUser"), owner: .user(otherUser.id), expiresAt: 1000, now: 1)
        try store.insertToken(hash: hash("otherClient"), owner: .client(otherClient.id), expiresAt: 1000, now: 1)

        try store.deleteCompany(id: company.id, now: 50)

        #expect(try store.company(id: company.id) == nil)
        #expect(try store.tokenOwner(hash: hash("user"), now: 51) == nil)
        #expect(try store.tokenOwner(hash: hash("client"), now: 51) == nil)
        #expect(try store.user(id: user.id) == nil)
        #expect(try store.account(email: "u@example.org") == nil)
        #expect(try store.client(clientID: "client_a") == nil)
        #expect(try store.client(id: client.id)?.revokedAt == 50)

        #expect(try store.tokenOwner(hash: hash("otherUser"), now: 51) == .user(otherUser.id))
        #expect(try store.tokenOwner(hash: hash("otherClient"), now: 51) == .client(otherClient.id))
        #expect(try store.client(clientID: "client_o")?.0.id == otherClient.id)
        #expect(try store.user(id: otherUser.id) != nil)
    }

    @Test("clients: lookup with the secret hash; the client_id is unique")
    func clients() throws {
        let client = try store.insertClient(
            companyID: company.id, clientID: "client_x", name: "X", secretHash: "secret-hash", now: 3)
        let found = try #require(try store.client(clientID: "client_x"))
        #expect(found.0 == client)
        #expect(found.secretHash == "secret-hash")
        #expect(try store.client(id: client.id) == client)
        #expect(try store.client(clientID: "client_y") == nil)
        let error = #expect(throws: UniqueViolation.self) {
            try store.insertClient(companyID: company.id, clientID: "client_x", name: "again", secretHash: "s", now: 3)
        }
        #expect(error?.field == "client_id")
    }

    @Test("purgeExpiredTokens removes tokens that expired before the cut-off")
    func purge() throws {
        let user = try store.insertUser(account("p@example.org", company: company.id), passwordHash: nil)
        try store.insertToken(hash: hash("100"), owner: .user(user.id), expiresAt: 100, now: 0)
        try store.insertToken(hash: hash("200"), owner: .user(user.id), expiresAt: 200, now: 0)
        try store.insertToken(hash: hash("300"), owner: .user(user.id), expiresAt: 300, now: 0)
        try store.insertToken(hash: hash("revoked"), owner: .user(user.id), expiresAt: 150, now: 0)
        try store.revokeToken(hash: hash("revoked"), now: 1)

        #expect(try store.purgeExpiredTokens(before: 200) == 2)
        #expect(try query(store, "SELECT count(*) FROM access_tokens").first?.int(0) == 2)
        #expect(try store.tokenOwner(hash: hash("200"), now: 199) == .user(user.id))
        #expect(try store.tokenOwner(hash: hash("300"), now: 199) == .user(user.id))
        #expect(try store.purgeExpiredTokens(before: 200) == 0)
        #expect(try store.purgeExpiredTokens(before: 1_000) == 2)
        #expect(try query(store, "SELECT count(*) FROM access_tokens").first?.int(0) == 0)
    }
}

@Suite("SQLite concurrency")
struct SQLiteConcurrencyTests {
    @Test("parallel writers and readers do not lose writes")
    func parallel() async throws {
        let temporary = try TemporaryDatabase()
        let store = try temporary.open()
        let company = try store.insertCompany(name: "Praxis", extid: nil, now: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    _ = try store.insertUser(account("c\(index)@example.org", company: company.id), passwordHash: nil)
                    _ = try store.users(UserQuery(companyID: company.id))
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.users(UserQuery(companyID: company.id)).total == 40)
    }
}
