import Sprechstunde

extension SQLiteStore: NotificationStore {
    static let notificationColumns = """
        id, event_id, call_id, company_id, kind, channel, audience, recipient, recipient_user_id, subject, body_text,
        body_html, calendar, calendar_method, status, attempts, next_attempt_at, last_error, created_at, sent_at
        """

    static func notification(_ row: Row) -> OutboxMessage {
        OutboxMessage(
            id: row.int(0)!, eventID: row.int(1), callID: row.int(2)!, companyID: row.int(3)!, kind: Int(row.int(4)!),
            channel: OutboxMessage.Channel(rawValue: row.text(5)!) ?? .email,
            audience: OutboxMessage.Audience(rawValue: row.text(6)!) ?? .staff, recipient: row.text(7)!,
            recipientUserID: row.int(8),
            message: ComposedMessage(
                subject: row.text(9)!, text: row.text(10)!, html: row.text(11), calendar: row.text(12),
                calendarMethod: row.text(13)),
            status: OutboxMessage.Status(rawValue: row.text(14)!) ?? .pending, attempts: Int(row.int(15)!),
            nextAttemptAt: row.int(16)!, lastError: row.text(17), createdAt: row.int(18)!, sentAt: row.int(19))
    }

    static func insert(_ notifications: [NewOutboxMessage], eventID: Int64?, in connection: Connection, now: Int64)
        throws
    {
        for item in notifications {
            try connection.run(
                """
                INSERT INTO notifications (event_id, call_id, company_id, kind, channel, audience, recipient,
                    recipient_user_id, subject, body_text, body_html, calendar, calendar_method, next_attempt_at,
                    created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    eventID.map { .int($0) } ?? .null, .int(item.callID), .int(item.companyID), .int(Int64(item.kind)),
                    .text(item.channel.rawValue), .text(item.audience.rawValue), .text(item.recipient),
                    item.recipientUserID.map { .int($0) } ?? .null, .text(item.message.subject),
                    .text(item.message.text), item.message.html.map { .text($0) } ?? .null,
                    item.message.calendar.map { .text($0) } ?? .null,
                    item.message.calendarMethod.map { .text($0) } ?? .null, .int(now), .int(now),
                ])
        }
    }

    public func eventSequence(eventID: Int64) throws -> Int {
        try database.read { connection in
            Int(
                try connection.query(
                    """
                    SELECT count(*) FROM outbox_events
                    WHERE call_id = (SELECT call_id FROM outbox_events WHERE id = ?1) AND id < ?1
                    """, [.int(eventID)]
                ).first?.int(0) ?? 0)
        }
    }

    public func expandEvent(id: Int64, into notifications: [NewOutboxMessage], now: Int64) throws {
        try write { connection in
            // Marking first and checking the count makes a second expansion of the same event a no-op.
            let marked = try connection.run(
                "UPDATE outbox_events SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                [.int(now), .int(id)])
            guard marked == 1 else { return }
            try Self.insert(notifications, eventID: id, in: connection, now: now)
        }
    }

    public func insertNotifications(_ notifications: [NewOutboxMessage], now: Int64) throws {
        try write { try Self.insert(notifications, eventID: nil, in: $0, now: now) }
    }

    public func dueNotifications(now: Int64, limit: Int) throws -> [OutboxMessage] {
        try database.read { connection in
            try connection.query(
                """
                SELECT \(Self.notificationColumns) FROM notifications
                WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                """, [.int(now), .int(Int64(limit))]
            ).map(Self.notification)
        }
    }

    public func markNotificationSent(id: OutboxMessage.ID, attempts: Int, now: Int64) throws {
        try write {
            try $0.run(
                "UPDATE notifications SET status = 'sent', attempts = ?, sent_at = ?, last_error = NULL WHERE id = ?",
                [.int(Int64(attempts)), .int(now), .int(id)])
        }
    }

    public func markNotificationRetry(id: OutboxMessage.ID, attempts: Int, nextAttemptAt: Int64, error: String) throws {
        try write {
            try $0.run(
                "UPDATE notifications SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'pending'",
                [.int(Int64(attempts)), .int(nextAttemptAt), .text(error), .int(id)])
        }
    }

    public func markNotificationFailed(id: OutboxMessage.ID, attempts: Int, error: String, now: Int64) throws {
        try write {
            try $0.run(
                "UPDATE notifications SET status = 'failed', attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                [.int(Int64(attempts)), .text(error), .int(now), .int(id)])
        }
    }

    public func requeueNotification(id: OutboxMessage.ID, now: Int64) throws {
        try write {
            try $0.run(
                "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? AND status = 'failed'",
                [.int(now), .int(id)])
        }
    }

    public func notification(id: OutboxMessage.ID) throws -> OutboxMessage? {
        try database.read { connection in
            try connection.query("SELECT \(Self.notificationColumns) FROM notifications WHERE id = ?", [.int(id)])
                .first.map(Self.notification)
        }
    }

    public func notifications(_ query: OutboxMessageQuery) throws -> Page<OutboxMessage> {
        try database.read { connection in
            var filter = SQLFilter()
            if let companyID = query.companyID { filter.add("company_id = ?", .int(companyID)) }
            if let status = query.status { filter.add("status = ?", .text(status.rawValue)) }
            if let callID = query.callID { filter.add("call_id = ?", .int(callID)) }
            return try Self.page(
                query.page, in: connection, select: "SELECT \(Self.notificationColumns) FROM notifications",
                countFrom: "notifications", filter: filter, orderBy: "id DESC", map: Self.notification)
        }
    }
}
