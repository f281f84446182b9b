import HTTPServer
import Sprechstunde

extension OutboxMessage {
    /// The list shows the envelope and state; one notification also its subject and texts.
    func json(withContent: Bool = false) -> JSON {
        var members: [(String, JSON)] = [
            ("id", .int(id)), ("call_id", .int(callID)), ("company_id", .int(companyID)),
            ("notification_id", .int(Int64(kind))), ("channel", .string(channel.rawValue)),
            ("audience", .string(audience.rawValue)), ("recipient", .string(recipient)),
            ("recipient_user_id", recipientUserID.map { .int($0) } ?? .null), ("status", .string(status.rawValue)),
            ("attempts", .int(Int64(attempts))),
            ("next_attempt_at", status == .pending ? .int(nextAttemptAt) : .null),
            ("last_error", lastError.map { .string($0) } ?? .null), ("created_at", .int(createdAt)),
            ("sent_at", sentAt.map { .int($0) } ?? .null), ("subject", .string(message.subject)),
        ]
        if withContent {
            members += [
                ("text", .string(message.text)), ("html", message.html.map { .string($0) } ?? .null),
                ("calendar", message.calendar.map { .string($0) } ?? .null),
                ("calendar_method", message.calendarMethod.map { .string($0) } ?? .null),
            ]
        }
        return .object(members)
    }
}
