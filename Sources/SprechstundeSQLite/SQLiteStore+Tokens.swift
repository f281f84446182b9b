import Sprechstunde

extension SQLiteStore: ClientStore {
    static func client(_ row: Row) -> MachineClient {
        MachineClient(
            id: row.int(0)!, companyID: row.int(1)!, clientID: row.text(2)!, name: row.text(3)!, createdAt: row.int(4)!,
            revokedAt: row.int(5))
    }

    public func insertClient(companyID: Company.ID, clientID: String, name: String, secretHash: String, now: Int64)
        throws
        -> MachineClient
    {
        let id = try write(uniqueField: "client_id") { connection in
            try connection.run(
                "INSERT INTO machine_clients (company_id, client_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                [.int(companyID), .text(clientID), .text(name), .text(secretHash), .int(now)])
            return connection.lastInsertID
        }
        return MachineClient(id: id, companyID: companyID, clientID: clientID, name: name, createdAt: now)
    }

    public func client(clientID: String) throws -> (MachineClient, secretHash: String)? {
        try database.read { connection in
            try connection.query(
                """
                SELECT m.id, m.company_id, m.client_id, m.name, m.created_at, m.revoked_at, m.secret_hash
                FROM machine_clients m JOIN companies c ON c.id = m.company_id
                WHERE m.client_id = ? AND m.revoked_at IS NULL AND c.deleted_at IS NULL
                """, [.text(clientID)]
            ).first.map { (Self.client($0), $0.text(6)!) }
        }
    }

    public func client(id: MachineClient.ID) throws -> MachineClient? {
        try database.read { connection in
            try connection.query(
                "SELECT id, company_id, client_id, name, created_at, revoked_at FROM machine_clients WHERE id = ?",
                [.int(id)]
            ).first.map(Self.client)
        }
    }
}

extension SQLiteStore: TokenStore {
    public func insertToken(hash: [UInt8], owner: TokenOwner, expiresAt: Int64, now: Int64) throws {
        let (userID, clientID): (Int64?, Int64?)
        switch owner {
        case .user(let id): (userID, clientID) = (id, nil)
        case .client(let id): (userID, clientID) = (nil, id)
        }
        try write(uniqueField: "token") { connection in
            try connection.run(
                "INSERT INTO access_tokens (token_hash, user_id, client_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                [.blob(hash), .int(userID), .int(clientID), .int(now), .int(expiresAt)])
        }
    }

    public func tokenOwner(hash: [UInt8], now: Int64) throws -> TokenOwner? {
        try database.read { connection in
            guard
                let row = try connection.query(
                    "SELECT user_id, client_id FROM access_tokens WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?",
                    [.blob(hash), .int(now)]
                ).first
            else { return nil }
            if let userID = row.int(0) { return .user(userID) }
            return row.int(1).map { .client($0) }
        }
    }

    public func tokenHolder(hash: [UInt8], now: Int64) throws -> TokenHolder? {
        try database.read { connection in
            guard
                let row = try connection.query(
                    """
                    SELECT t.user_id, t.client_id, coalesce(u.company_id, m.company_id),
                           (SELECT max(role_id) FROM user_roles WHERE user_id = t.user_id),
                           coalesce(u.deleted_at, m.revoked_at), coalesce(u.is_unlocked, 1), u.expires_at
                    FROM access_tokens t
                    LEFT JOIN users u ON u.id = t.user_id
                    LEFT JOIN machine_clients m ON m.id = t.client_id
                    WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ?
                    """, [.blob(hash), .int(now)]
                ).first
            else { return nil }
            let owner: TokenOwner
            if let userID = row.int(0) {
                owner = .user(userID)
            } else if let clientID = row.int(1) {
                owner = .client(clientID)
            } else {
                return nil
            }
            return TokenHolder(
                owner: owner, companyID: row.int(2), role: row.int(3).flatMap { Role(rawValue: Int($0)) },
                deletedAt: row.int(4), isUnlocked: row.bool(5), expiresAt: row.int(6))
        }
    }

    public func revokeToken(hash: [UInt8], now: Int64) throws {
        try write { connection in
            try connection.run(
                "UPDATE access_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                [.int(now), .blob(hash)])
        }
    }

    public func purgeExpiredTokens(before: Int64) throws -> Int {
        try write { connection in
            try connection.run("DELETE FROM access_tokens WHERE expires_at < ?", [.int(before)])
        }
    }
}
