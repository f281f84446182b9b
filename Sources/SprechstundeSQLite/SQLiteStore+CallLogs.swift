import Sprechstunde

extension SQLiteStore: CallLogStore {
    static let logColumns = "id, call_id, company_id, user_id, tan, created_at, updated_at, end_at, deleted_at"

    static func log(_ row: Row) -> CallLog {
        CallLog(
            id: row.int(0)!, callID: row.int(1)!, companyID: row.int(2)!, userID: row.int(3)!, tan: row.text(4),
            createdAt: row.int(5)!, updatedAt: row.int(6)!, end: row.int(7), deletedAt: row.int(8))
    }

    public func openLog(callID: Call.ID, userID: User.ID, tan: String?, now: Int64) throws -> CallLog {
        try write { connection in
            let inserted = try connection.run(
                """
                INSERT INTO call_logs (call_id, company_id, user_id, tan, created_at, updated_at, last_seen_at)
                SELECT id, company_id, ?, ?, ?, ?, ? FROM calls WHERE id = ? AND deleted_at IS NULL AND status < 2
                """, [.int(userID), .text(tan), .int(now), .int(now), .int(now), .int(callID)])
            guard inserted == 1 else {
                // Ended since the caller looked (checked here, in the same transaction), or gone.
                let ended =
                    try connection.query("SELECT status FROM calls WHERE id = ? AND deleted_at IS NULL", [.int(callID)])
                    .first?.int(0) == Int64(CallStatus.ended.rawValue)
                if ended { _ = try CallLifecycle.join(.ended) }
                throw DomainError.notFound("Call \(callID)")
            }
            let id = connection.lastInsertID
            try connection.run(
                "UPDATE calls SET status = 1, started_at = coalesce(started_at, ?1), updated_at = ?1 WHERE id = ?2 AND status = 0",
                [.int(now), .int(callID)])
            return Self.log(
                try connection.query("SELECT \(Self.logColumns) FROM call_logs WHERE id = ?", [.int(id)])[0])
        }
    }

    public func closeLog(id: CallLog.ID, end: Int64) throws {
        try write { connection in
            try connection.run(
                "UPDATE call_logs SET end_at = ?1, last_seen_at = ?1, updated_at = ?1 WHERE id = ?2 AND end_at IS NULL",
                [.int(end), .int(id)])
        }
    }

    public func touchLog(id: CallLog.ID, now: Int64) throws {
        try write { connection in
            try connection.run(
                "UPDATE call_logs SET last_seen_at = ? WHERE id = ? AND end_at IS NULL", [.int(now), .int(id)])
        }
    }

    public func closeStaleLogs(lastSeenBefore before: Int64, now: Int64) throws -> Int {
        try write { connection in
            try connection.run(
                "UPDATE call_logs SET end_at = last_seen_at, updated_at = ? WHERE end_at IS NULL AND last_seen_at < ?",
                [.int(now), .int(before)])
        }
    }

    public func callLog(id: CallLog.ID) throws -> CallLog? {
        try database.read { connection in
            try connection.query("SELECT \(Self.logColumns) FROM call_logs WHERE id = ?", [.int(id)]).first.map(
                Self.log)
        }
    }

    public func callLogs(_ query: CallLogQuery) throws -> Page<CallLog> {
        try database.read { connection in
            // Log entries are never soft-deleted (retention removes them), so the filter stays on
            // the (company_id, id) index and counting never reads table rows.
            var filter = SQLFilter()
            if let companyID = query.companyID { filter.add("company_id = ?", .int(companyID)) }
            if let userID = query.participantUserID {
                filter.add("call_id IN (SELECT call_id FROM call_participants WHERE user_id = ?)", .int(userID))
            }
            if let callID = query.callID { filter.add("call_id = ?", .int(callID)) }
            if let userID = query.userID { filter.add("user_id = ?", .int(userID)) }
            if let from = query.from { filter.add("created_at >= ?", .int(from)) }
            if let to = query.to { filter.add("created_at <= ?", .int(to)) }
            return try Self.page(
                query.page, in: connection, select: "SELECT \(Self.logColumns) FROM call_logs", countFrom: "call_logs",
                filter: filter, orderBy: "id", map: Self.log)
        }
    }

    public func endIdleCalls(emptySince: Int64, now: Int64) throws -> [Call.ID] {
        try write { connection in
            try connection.query(
                """
                UPDATE calls SET status = 2, ended_at = ?1, updated_at = ?1
                WHERE status = 1 AND deleted_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM call_logs l WHERE l.call_id = calls.id AND l.end_at IS NULL)
                  AND coalesce((SELECT max(l.end_at) FROM call_logs l WHERE l.call_id = calls.id), started_at, 0) < ?2
                  -- Patients alone (early, or waiting in vain) do not end an appointment: a doctor
                  -- (any ak user of the call) must have been in it, or its planned time be over.
                  AND (EXISTS (SELECT 1 FROM call_logs l JOIN call_participants p
                                 ON p.call_id = l.call_id AND p.user_id = l.user_id
                               WHERE l.call_id = calls.id AND p.role != 'tanuser')
                       OR begin + duration * 60 < ?2)
                RETURNING id
                """, [.int(now), .int(emptySince)]
            ).compactMap { $0.int(0) }
        }
    }

    public func setCallStatus(id: Call.ID, status: CallStatus, now: Int64) throws {
        try write { connection in
            try connection.run(
                """
                UPDATE calls SET status = ?1, updated_at = ?2,
                    started_at = CASE WHEN ?1 >= 1 THEN coalesce(started_at, ?2) ELSE started_at END,
                    ended_at = CASE WHEN ?1 = 2 THEN coalesce(ended_at, ?2) ELSE ended_at END
                WHERE id = ?3
                """, [.int(Int64(status.rawValue)), .int(now), .int(id)])
        }
    }

    public func purgeCalls(endedBefore before: Int64) throws -> Int {
        try write { connection in
            let expired = """
                SELECT id FROM calls WHERE begin + duration * 60 < ?1 AND updated_at < ?1
                  AND NOT EXISTS (SELECT 1 FROM call_logs l WHERE l.call_id = calls.id
                                  AND coalesce(l.end_at, l.last_seen_at) >= ?1)
                """
            try connection.run("CREATE TEMP TABLE IF NOT EXISTS purge_calls (id INTEGER PRIMARY KEY)")
            try connection.run("DELETE FROM purge_calls")
            try connection.run("INSERT INTO purge_calls \(expired)", [.int(before)])
            let tanUsers = """
                SELECT p.user_id FROM call_participants p JOIN users u ON u.id = p.user_id
                WHERE p.call_id IN (SELECT id FROM purge_calls) AND u.is_tan_user = 1
                """
            try connection.run("CREATE TEMP TABLE IF NOT EXISTS purge_users (id INTEGER PRIMARY KEY)")
            try connection.run("DELETE FROM purge_users")
            try connection.run("INSERT OR IGNORE INTO purge_users \(tanUsers)")
            try connection.run("DELETE FROM notifications WHERE call_id IN (SELECT id FROM purge_calls)")
            try connection.run("DELETE FROM outbox_events WHERE call_id IN (SELECT id FROM purge_calls)")
            // Logs, participants and one-time passwords go with their call (ON DELETE CASCADE).
            let calls = try connection.run("DELETE FROM calls WHERE id IN (SELECT id FROM purge_calls)")
            try connection.run("DELETE FROM user_roles WHERE user_id IN (SELECT id FROM purge_users)")
            try connection.run("DELETE FROM notification_options WHERE user_id IN (SELECT id FROM purge_users)")
            try connection.run("DELETE FROM access_tokens WHERE user_id IN (SELECT id FROM purge_users)")
            try connection.run("DELETE FROM users WHERE id IN (SELECT id FROM purge_users)")
            return calls
        }
    }
}
