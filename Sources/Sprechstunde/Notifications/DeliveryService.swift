import Foundation
import Synchronization

/// Delivers the outbox: expands each appointment event into its notifications (in the same
/// transaction that marks the event done, so an event is expanded exactly once), then sends the
/// due notifications one by one, each marked sent in its own transaction right after the
/// transport accepted it. Failures are retried with backoff and finally kept as `failed` with
/// their reason; nothing is dropped, also without a configured transport (then messages wait as
/// `pending`, readable by admins).
///
/// One delivery run at a time per process (`runOnce` is serialised); several processes on one
/// database would need a claim per row (see docs/notifications.md).
public final class DeliveryService: Sendable {
    public struct Settings: Sendable {
        public var planner: NotificationPlanner.Settings
        /// Seconds to wait before attempt 2, 3, ...; the last value repeats.
        public var backoff: [Int64] = [15, 60, 300, 900, 1800, 3600]
        /// After this many failed attempts a notification is `failed`.
        public var maximumAttempts = 12
        public var batchSize = 100

        public init(planner: NotificationPlanner.Settings) { self.planner = planner }
    }

    public struct RunSummary: Sendable, Equatable {
        public var expanded = 0
        public var sent = 0
        public var retried = 0
        public var failed = 0
        public var waiting = 0
    }

    let store: any Store
    let clock: Clock
    let settings: Settings
    /// Replaced once the server knows its address (`use(baseURL:)`): links point there.
    private let plannerBox: Mutex<NotificationPlanner>
    var planner: NotificationPlanner { plannerBox.withLock { $0 } }
    let mail: (any MailTransport)?
    let sms: (any SMSTransport)?
    private let running = NSLock()

    public init(
        store: any Store, clock: Clock = .system, settings: Settings, mail: (any MailTransport)?,
        sms: (any SMSTransport)?
    ) {
        self.store = store
        self.clock = clock
        self.settings = settings
        self.plannerBox = Mutex(NotificationPlanner(settings: settings.planner))
        self.mail = mail
        self.sms = sms
    }

    /// Join links in messages composed from now on start with `baseURL`.
    public func use(baseURL: String) {
        plannerBox.withLock { planner in
            var settings = planner.settings
            settings.baseURL = baseURL
            planner = NotificationPlanner(settings: settings)
        }
    }

    /// Expands pending events and sends what is due.
    @discardableResult
    public func runOnce() throws -> RunSummary {
        running.lock()
        defer { running.unlock() }
        var summary = RunSummary()
        summary.expanded = try expandPendingEvents()
        try deliverDue(&summary)
        return summary
    }

    func expandPendingEvents() throws -> Int {
        var count = 0
        while true {
            let events = try store.pendingEvents(limit: settings.batchSize)
            if events.isEmpty { return count }
            for event in events {
                let context = NotificationPlanner.Context(
                    event: event, call: try store.call(id: event.callID),
                    companyName: try store.company(id: event.companyID)?.name ?? "",
                    staff: try staff(of: event.payload), sequence: try store.eventSequence(eventID: event.id),
                    now: clock.now())
                try store.expandEvent(
                    id: event.id, into: planner(forCompany: event.companyID).plan(context), now: clock.now())
                count += 1
            }
        }
    }

    /// Times in messages are written in the practice's appointment time zone once it has set one.
    func planner(forCompany companyID: Company.ID) throws -> NotificationPlanner {
        let planner = self.planner
        guard let name = try store.appointmentSettings(companyID: companyID)?.timeZone,
            let zone = TimeZone(identifier: name), zone != planner.settings.timeZone
        else { return planner }
        var settings = planner.settings
        settings.timeZone = zone
        return NotificationPlanner(settings: settings)
    }

    /// The current accounts of the event's ak-user participants (deleted ones are told nothing).
    func staff(of payload: CallEventPayload) throws -> [User] {
        try payload.participants.filter { $0.role != ParticipantRole.tanuser.rawValue }.compactMap {
            try store.user(id: $0.userID)
        }
    }

    func deliverDue(_ summary: inout RunSummary) throws {
        var skipped: Set<OutboxMessage.ID> = []
        while true {
            let due = try store.dueNotifications(now: clock.now(), limit: settings.batchSize).filter {
                !skipped.contains($0.id)
            }
            if due.isEmpty { return }
            for notification in due {
                do {
                    switch notification.channel {
                    case .email:
                        guard let mail else {
                            throw DeliveryFailure.notConfigured("no SMTP server configured (--smtp-host)")
                        }
                        try mail.send(notification)
                    case .sms:
                        guard let sms else {
                            throw DeliveryFailure.notConfigured("no SMS gateway configured (--sms-gateway-url)")
                        }
                        try sms.send(notification)
                    }
                    try store.markNotificationSent(
                        id: notification.id, attempts: notification.attempts + 1, now: clock.now())
                    summary.sent += 1
                } catch let failure as DeliveryFailure {
                    try record(failure, for: notification, &summary)
                    skipped.insert(notification.id)
                }
            }
        }
    }

    func record(_ failure: DeliveryFailure, for notification: OutboxMessage, _ summary: inout RunSummary) throws {
        let attempts = notification.attempts + 1
        switch failure {
        case .notConfigured(let reason):
            // Waits without counting attempts; a restart with the transport configured sends it.
            try store.markNotificationRetry(
                id: notification.id, attempts: notification.attempts, nextAttemptAt: clock.now() + 3600, error: reason)
            summary.waiting += 1
        case .temporary(let reason) where attempts < settings.maximumAttempts:
            let delay = settings.backoff[min(attempts - 1, settings.backoff.count - 1)]
            try store.markNotificationRetry(
                id: notification.id, attempts: attempts, nextAttemptAt: clock.now() + delay, error: reason)
            summary.retried += 1
        case .temporary(let reason):
            try store.markNotificationFailed(
                id: notification.id, attempts: attempts, error: "gave up after \(attempts) attempts: \(reason)",
                now: clock.now())
            summary.failed += 1
        case .permanent(let reason, let addressRejected):
            try store.markNotificationFailed(id: notification.id, attempts: attempts, error: reason, now: clock.now())
            summary.failed += 1
            if addressRejected && notification.channel == .email && notification.audience == .patient
                && notification.kind != NotificationOption.Kind.patientEmailInvalid.rawValue
            {
                try reportInvalidPatientAddress(notification, reason: reason)
            }
        }
    }

    /// OutboxMessage 4001 to the staff of the call who asked for it.
    func reportInvalidPatientAddress(_ notification: OutboxMessage, reason: String) throws {
        guard let call = try store.call(id: notification.callID) else { return }
        let staff = try call.participants.filter { $0.role != .tanuser }.compactMap { try store.user(id: $0.userID) }
        let name = notification.recipientUserID.flatMap { call.participant($0)?.name } ?? ""
        let notices = planner.patientEmailInvalid(
            callID: call.id, companyID: call.companyID, begin: call.begin, patientName: name,
            address: notification.recipient, reason: reason, staff: staff)
        if !notices.isEmpty { try store.insertNotifications(notices, now: clock.now()) }
    }

    // MARK: admins

    /// The company's notifications (superadmins: every company's), newest first.
    public func list(as principal: Principal, status: OutboxMessage.Status?, callID: Call.ID?, page: PageRequest) throws
        -> Page<OutboxMessage>
    {
        try Policy.require(principal, .manageNotifications)
        return try store.notifications(
            OutboxMessageQuery(
                companyID: principal.isSuperadmin ? nil : principal.companyID, status: status, callID: callID,
                page: page))
    }

    public func notification(_ id: OutboxMessage.ID, as principal: Principal) throws -> OutboxMessage {
        try Policy.require(principal, .manageNotifications)
        guard let notification = try store.notification(id: id), principal.canSee(company: notification.companyID)
        else {
            throw DomainError.notFound("OutboxMessage \(id)")
        }
        return notification
    }

    /// A failed notification goes back to the queue for a fresh set of attempts.
    public func retry(_ id: OutboxMessage.ID, as principal: Principal) throws -> OutboxMessage {
        let notification = try notification(id, as: principal)
        guard notification.status == .failed else {
            throw DomainError(
                .conflict, "Only failed notifications are retried; this one is \(notification.status.rawValue).")
        }
        try store.requeueNotification(id: id, now: clock.now())
        return try store.notification(id: id) ?? notification
    }
}
