import Sprechstunde

extension SQLiteStore: VideoSessionStore {
    public func insertVideoSession(
        tokenHash: [UInt8], callID: Call.ID, userID: User.ID, tan: String?, waitingArea: Bool, expiresAt: Int64,
        now: Int64
    ) throws -> VideoSession {
        let id = try write(uniqueField: "token") { connection in
            _ = try connection.run(
                """
                INSERT INTO video_sessions (token_hash, call_id, user_id, tan, waiting_area, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .blob(tokenHash), .int(callID), .int(userID), .text(tan), .int(waitingArea ? 1 : 0), .int(now),
                    .int(expiresAt),
                ])
            return connection.lastInsertID
        }
        return VideoSession(
            id: id, callID: callID, userID: userID, tan: tan, waitingArea: waitingArea, expiresAt: expiresAt)
    }

    public func videoSession(tokenHash: [UInt8], now: Int64) throws -> VideoSession? {
        try database.read { connection in
            try connection.query(
                """
                SELECT id, call_id, user_id, tan, waiting_area, expires_at FROM video_sessions
                WHERE token_hash = ? AND expires_at > ?
                """, [.blob(tokenHash), .int(now)]
            ).first.map {
                VideoSession(
                    id: $0.int(0)!, callID: $0.int(1)!, userID: $0.int(2)!, tan: $0.text(3),
                    waitingArea: $0.int(4) == 1,
                    expiresAt: $0.int(5)!)
            }
        }
    }

    public func videoSessionIsLive(id: Int64, now: Int64) throws -> Bool {
        try database.read { connection in
            try !connection.query(
                "SELECT 1 FROM video_sessions WHERE id = ? AND expires_at > ?", [.int(id), .int(now)]
            ).isEmpty
        }
    }

    public func recordConsent(userID: User.ID, dataAgreed: Bool, descriptionsAgreed: Bool, now: Int64) throws {
        _ = try write { connection in
            try connection.run(
                """
                UPDATE users SET tan_data_agreed = max(tan_data_agreed, ?), tan_descriptions_agreed = max(tan_descriptions_agreed, ?),
                       updated_at = ?
                WHERE id = ?
                """, [.int(dataAgreed ? 1 : 0), .int(descriptionsAgreed ? 1 : 0), .int(now), .int(userID)])
        }
    }

    public func purgeExpiredVideoSessions(before: Int64) throws -> Int {
        try write { connection in
            try connection.run("DELETE FROM video_sessions WHERE expires_at < ?", [.int(before)])
        }
    }
}
