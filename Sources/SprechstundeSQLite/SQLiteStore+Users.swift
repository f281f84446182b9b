import Sprechstunde

extension SQLiteStore: UserStore {
    /// Roles and notification options come along as aggregated text, so a page of users is one query.
    static let userSelect = """
        SELECT u.id, u.company_id, u.name, u.email, u.title, u.gender, u.mobile, u.languages, u.extid, u.description,
               u.ousubsidiary_id, u.oulocation_id, u.department_id, u.expires_at, u.is_unlocked, u.tan_data_agreed,
               u.tan_descriptions_agreed, u.created_at, u.updated_at, u.deleted_at,
               c.name, s.name, l.name, d.name,
               (SELECT group_concat(role_id) FROM user_roles WHERE user_id = u.id),
               (SELECT group_concat(notification_id || ':' || enabled || ':' || value, ';')
                  FROM notification_options WHERE user_id = u.id)
        FROM users u
        LEFT JOIN companies c ON c.id = u.company_id
        LEFT JOIN organisation_units s ON s.id = u.ousubsidiary_id
        LEFT JOIN organisation_units l ON l.id = u.oulocation_id
        LEFT JOIN organisation_units d ON d.id = u.department_id
        """

    static func user(_ row: Row) -> User {
        var user = User(
            id: row.int(0)!, companyID: row.int(1), name: row.text(2)!, email: row.text(3), title: row.text(4) ?? "",
            gender: row.text(5) ?? "notset", mobile: row.text(6), languages: split(row.text(7), by: "\n"),
            extid: row.text(8), description: row.text(9), subsidiaryID: row.int(10), locationID: row.int(11),
            departmentID: row.int(12), expiresAt: row.int(13), isUnlocked: row.bool(14),
            roles: split(row.text(24), by: ",").compactMap { Int($0).flatMap(Role.init(rawValue:)) }.sorted(),
            notificationOptions: notificationOptions(row.text(25)), dataAgreed: row.bool(15),
            descriptionsAgreed: row.bool(16), createdAt: row.int(17)!, updatedAt: row.int(18)!, deletedAt: row.int(19))
        user.companyName = row.text(20)
        user.subsidiaryName = row.text(21)
        user.locationName = row.text(22)
        user.departmentName = row.text(23)
        return user
    }

    static func split(_ text: String?, by separator: Character) -> [String] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: separator).map(String.init)
    }

    /// "1001:1:a@b.de,c@d.de;2001:0:" → options. Addresses and numbers contain none of ":;,".
    static func notificationOptions(_ text: String?) -> [NotificationOption] {
        split(text, by: ";").compactMap { entry in
            let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let id = Int(parts[0]), let kind = NotificationOption.Kind(rawValue: id) else {
                return nil
            }
            return NotificationOption(kind: kind, enabled: parts[1] == "1", values: split(String(parts[2]), by: ","))
        }.sorted { $0.kind.rawValue < $1.kind.rawValue }
    }

    static func userValues(_ user: User) -> [SQLValue] {
        [
            .int(user.companyID), .text(user.name), .text(user.email), .text(user.title), .text(user.gender),
            .text(user.mobile), .text(user.languages.joined(separator: "\n")), .text(user.extid),
            .text(user.description),
            .int(user.subsidiaryID), .int(user.locationID), .int(user.departmentID), .int(user.expiresAt),
            .bool(user.isUnlocked), .bool(user.dataAgreed), .bool(user.descriptionsAgreed), .int(user.updatedAt),
            .text((user.name + "\n" + (user.email ?? "")).lowercased()),
        ]
    }

    static func replaceRolesAndOptions(of user: User, id: User.ID, in connection: Connection) throws {
        try connection.run("DELETE FROM user_roles WHERE user_id = ?", [.int(id)])
        for role in Set(user.roles) {
            try connection.run(
                "INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)", [.int(id), .int(Int64(role.rawValue))])
        }
        try connection.run("DELETE FROM notification_options WHERE user_id = ?", [.int(id)])
        for option in user.notificationOptions {
            try connection.run(
                "INSERT INTO notification_options (user_id, notification_id, enabled, value) VALUES (?, ?, ?, ?)",
                [
                    .int(id), .int(Int64(option.kind.rawValue)), .bool(option.enabled),
                    .text(option.values.joined(separator: ",")),
                ])
        }
    }

    public func insertUser(_ user: User, passwordHash: String?) throws -> User {
        let id = try write { connection in
            try connection.run(
                """
                INSERT INTO users (company_id, name, email, title, gender, mobile, languages, extid, description,
                    ousubsidiary_id, oulocation_id, department_id, expires_at, is_unlocked, tan_data_agreed,
                    tan_descriptions_agreed, updated_at, search_key, created_at, is_tan_user, password_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                Self.userValues(user) + [.int(user.createdAt), .bool(user.roles == [.tanuser]), .text(passwordHash)])
            let id = connection.lastInsertID
            try Self.replaceRolesAndOptions(of: user, id: id, in: connection)
            return id
        }
        return try self.user(id: id)!
    }

    public func user(id: User.ID) throws -> User? {
        try database.read { connection in
            try connection.query("\(Self.userSelect) WHERE u.id = ? AND u.deleted_at IS NULL", [.int(id)]).first.map(
                Self.user)
        }
    }

    public func account(email: String) throws -> (User, passwordHash: String?)? {
        try database.read { connection in
            guard
                let row = try connection.query(
                    "SELECT id, password_hash FROM users WHERE email = ? AND deleted_at IS NULL AND is_tan_user = 0",
                    [.text(email)]
                ).first,
                let user = try connection.query("\(Self.userSelect) WHERE u.id = ?", [.int(row.int(0)!)]).first
            else { return nil }
            return (Self.user(user), row.text(1))
        }
    }

    public func users(_ query: UserQuery) throws -> Page<User> {
        try database.read { connection in
            // TAN users are participants of calls, not accounts: they are never listed here.
            var filter = SQLFilter("u.deleted_at IS NULL", "u.is_tan_user = 0")
            if let companyID = query.companyID { filter.add("u.company_id = ?", .int(companyID)) }
            if let role = query.role {
                filter.add(
                    "EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_id = ?)",
                    .int(Int64(role.rawValue)))
            }
            if let onlyUserID = query.onlyUserID { filter.add("u.id = ?", .int(onlyUserID)) }
            if let search = query.search, !search.isEmpty {
                filter.add("instr(u.search_key, ?) > 0", .text(search.lowercased()))
            }
            return try Self.page(
                query.page, in: connection, select: Self.userSelect, countFrom: "users u", filter: filter,
                orderBy: "u.id",
                map: Self.user)
        }
    }

    public func updateUser(_ user: User, passwordHash: String?) throws {
        try write { connection in
            try connection.run(
                """
                UPDATE users SET company_id = ?, name = ?, email = ?, title = ?, gender = ?, mobile = ?, languages = ?,
                    extid = ?, description = ?, ousubsidiary_id = ?, oulocation_id = ?, department_id = ?, expires_at = ?,
                    is_unlocked = ?, tan_data_agreed = ?, tan_descriptions_agreed = ?, updated_at = ?, search_key = ?,
                    password_hash = coalesce(?, password_hash)
                WHERE id = ? AND deleted_at IS NULL
                """, Self.userValues(user) + [.text(passwordHash), .int(user.id)])
            try Self.replaceRolesAndOptions(of: user, id: user.id, in: connection)
            // Locking an account or changing its password ends its sessions.
            if !user.isUnlocked || passwordHash != nil {
                try connection.run(
                    "UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    [.int(user.updatedAt), .int(user.id)])
                try connection.run("DELETE FROM video_sessions WHERE user_id = ?", [.int(user.id)])
            }
        }
    }

    public func deleteUser(id: User.ID, now: Int64) throws {
        try write { connection in
            try connection.run(
                "UPDATE users SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", [.int(now), .int(id)])
            try connection.run(
                "UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                [.int(now), .int(id)])
            try connection.run("DELETE FROM video_sessions WHERE user_id = ?", [.int(id)])
        }
    }
}
