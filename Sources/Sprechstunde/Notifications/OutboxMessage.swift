/// One message to one recipient over one channel, made from an outbox event (or from a
/// failed invitation, 4001) and delivered by `DeliveryService`. The message is composed when the
/// event is expanded and stored as it will be sent, so that a retry sends the same bytes and an
/// admin reads exactly what went (or waits to go) out.
public struct OutboxMessage: Sendable, Equatable {
    public typealias ID = Int64

    public enum Channel: String, Sendable, CaseIterable {
        case email
        case sms
    }

    public enum Status: String, Sendable, CaseIterable {
        /// Waiting for its first attempt or a retry (`nextAttemptAt`).
        case pending
        case sent
        /// Given up: the reason is in `lastError`.
        case failed
    }

    /// Who the message is for: the invited patient, or staff told according to their options.
    public enum Audience: String, Sendable {
        case patient
        case staff
    }

    public var id: ID
    public var eventID: Int64?
    public var callID: Call.ID
    public var companyID: Company.ID
    /// 2001, 2002, 2003 (appointment created, changed, deleted) or 4001 (patient e-mail invalid).
    public var kind: Int
    public var channel: Channel
    public var audience: Audience
    public var recipient: String
    public var recipientUserID: User.ID?
    public var message: ComposedMessage
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Int64
    public var lastError: String?
    public var createdAt: Int64
    public var sentAt: Int64?

    public init(
        id: ID, eventID: Int64?, callID: Call.ID, companyID: Company.ID, kind: Int, channel: Channel,
        audience: Audience, recipient: String, recipientUserID: User.ID?, message: ComposedMessage, status: Status,
        attempts: Int, nextAttemptAt: Int64, lastError: String?, createdAt: Int64, sentAt: Int64?
    ) {
        self.id = id
        self.eventID = eventID
        self.callID = callID
        self.companyID = companyID
        self.kind = kind
        self.channel = channel
        self.audience = audience
        self.recipient = recipient
        self.recipientUserID = recipientUserID
        self.message = message
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.sentAt = sentAt
    }
}

/// The content of a notification: for e-mail a subject, plain text, HTML and an optional
/// iCalendar object; for SMS only `text`.
public struct ComposedMessage: Sendable, Equatable, Codable {
    public var subject: String
    public var text: String
    public var html: String?
    public var calendar: String?
    /// The iCalendar METHOD (REQUEST or CANCEL) of `calendar`.
    public var calendarMethod: String?

    public init(
        subject: String, text: String, html: String? = nil, calendar: String? = nil, calendarMethod: String? = nil
    ) {
        self.subject = subject
        self.text = text
        self.html = html
        self.calendar = calendar
        self.calendarMethod = calendarMethod
    }
}

/// A notification about to be stored.
public struct NewOutboxMessage: Sendable, Equatable {
    public var callID: Call.ID
    public var companyID: Company.ID
    public var kind: Int
    public var channel: OutboxMessage.Channel
    public var audience: OutboxMessage.Audience
    public var recipient: String
    public var recipientUserID: User.ID?
    public var message: ComposedMessage

    public init(
        callID: Call.ID, companyID: Company.ID, kind: Int, channel: OutboxMessage.Channel,
        audience: OutboxMessage.Audience, recipient: String, recipientUserID: User.ID?, message: ComposedMessage
    ) {
        self.callID = callID
        self.companyID = companyID
        self.kind = kind
        self.channel = channel
        self.audience = audience
        self.recipient = recipient
        self.recipientUserID = recipientUserID
        self.message = message
    }
}

/// Filters for listing notifications (admins).
public struct OutboxMessageQuery: Sendable {
    public var companyID: Company.ID?
    public var status: OutboxMessage.Status?
    public var callID: Call.ID?
    public var page: PageRequest

    public init(
        companyID: Company.ID? = nil, status: OutboxMessage.Status? = nil, callID: Call.ID? = nil,
        page: PageRequest = PageRequest()
    ) {
        self.companyID = companyID
        self.status = status
        self.callID = callID
        self.page = page
    }
}

/// What a transport says about one attempt.
public enum DeliveryFailure: Error, Sendable, Equatable {
    /// Worth another try later (server down, 4xx SMTP reply, timeout).
    case temporary(String)
    /// Will never work (5xx SMTP reply, address rejected). `addressRejected` marks a refused
    /// recipient address, which makes a patient's invitation a 4001 for the practice.
    case permanent(String, addressRejected: Bool)
    /// No transport is configured for the channel: the message waits, nothing is counted.
    case notConfigured(String)
}

/// Sends e-mail. Implementations: SMTP through libcurl.
public protocol MailTransport: Sendable {
    func send(_ notification: OutboxMessage) throws(DeliveryFailure)
}

/// Sends SMS. Implementations: a JSON POST to an HTTP gateway through libcurl.
public protocol SMSTransport: Sendable {
    func send(_ notification: OutboxMessage) throws(DeliveryFailure)
}
