/// The notifications made from outbox events, and their delivery state.
public protocol NotificationStore: Sendable {
    /// How many events of the same call came before this one (the calendar entry's SEQUENCE).
    func eventSequence(eventID: Int64) throws -> Int
    /// Stores the event's notifications and marks the event delivered, in one transaction; an
    /// event already marked is left alone (nothing is stored twice).
    func expandEvent(id: Int64, into notifications: [NewOutboxMessage], now: Int64) throws
    /// Stores notifications that come from no event (4001).
    func insertNotifications(_ notifications: [NewOutboxMessage], now: Int64) throws
    /// Pending notifications whose next attempt is due, oldest first.
    func dueNotifications(now: Int64, limit: Int) throws -> [OutboxMessage]
    func markNotificationSent(id: OutboxMessage.ID, attempts: Int, now: Int64) throws
    func markNotificationRetry(id: OutboxMessage.ID, attempts: Int, nextAttemptAt: Int64, error: String) throws
    func markNotificationFailed(id: OutboxMessage.ID, attempts: Int, error: String, now: Int64) throws
    /// A failed notification back to pending, due now, with its attempts reset.
    func requeueNotification(id: OutboxMessage.ID, now: Int64) throws
    func notification(id: OutboxMessage.ID) throws -> OutboxMessage?
    /// Newest first.
    func notifications(_ query: OutboxMessageQuery) throws -> Page<OutboxMessage>
}
