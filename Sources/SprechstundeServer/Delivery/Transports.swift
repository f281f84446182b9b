import CCurl
import Foundation
import HTTPServer
import Sprechstunde

/// E-mail over SMTP with libcurl.
struct SMTPTransport: MailTransport {
    struct Settings: Sendable {
        enum Security: String, Sendable, CaseIterable {
            /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
            case starttls
            /// TLS from the first byte (SMTPS, usually port 465).
            case tls
            /// No encryption: only for a relay on the same machine or in tests.
            case none
        }

        var host: String
        var port: Int
        var security: Security
        var username: String?
        var password: String?
        /// The envelope sender and `From:` address.
        var from: String
        var fromName: String?
        /// CA bundle for the server's certificate (default: the system's).
        var caFile: String?
    }

    let settings: Settings
    let messageDomain: String
    let clock: Clock

    func send(_ notification: OutboxMessage) throws(DeliveryFailure) {
        guard let transfer = CurlTransfer() else { throw .temporary("libcurl could not be initialised") }
        let scheme = settings.security == .tls ? "smtps" : "smtp"
        let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        transfer.set(CURLOPT_URL, "\(scheme)://\(host):\(settings.port)/\(messageDomain)")
        if settings.security == .starttls { transfer.set(CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)) }
        if let caFile = settings.caFile { transfer.set(CURLOPT_CAINFO, caFile) }
        if let username = settings.username { transfer.set(CURLOPT_USERNAME, username) }
        if let password = settings.password { transfer.set(CURLOPT_PASSWORD, password) }
        transfer.set(CURLOPT_MAIL_FROM, "<\(settings.from)>")
        transfer.set(CURLOPT_MAIL_RCPT, list: ["<\(notification.recipient)>"])
        transfer.set(CURLOPT_UPLOAD, 1)
        transfer.setUpload(
            MailMessage.render(
                notification, from: settings.from, fromName: settings.fromName, messageDomain: messageDomain,
                date: clock.now()))
        let outcome = transfer.perform()
        if outcome.succeeded { return }
        let reply = outcome.responseCode
        let reason = reply > 0 ? "SMTP \(reply): \(outcome.errorText)" : outcome.errorText
        if (500..<600).contains(reply) {
            // 550/551/553: the mailbox does not exist or the address is not accepted.
            throw .permanent(reason, addressRejected: [550, 551, 553, 501].contains(reply))
        }
        throw .temporary(reason)
    }
}

/// SMS through an HTTP gateway: one JSON POST per message (docs/notifications.md), so that an
/// operator can put any SMS provider behind a small adapter.
struct SMSGatewayTransport: SMSTransport {
    struct Settings: Sendable {
        var url: String
        var token: String?
        /// Sender name or number shown to the recipient, if the gateway supports it.
        var sender: String?
    }

    let settings: Settings

    func send(_ notification: OutboxMessage) throws(DeliveryFailure) {
        guard let transfer = CurlTransfer() else { throw .temporary("libcurl could not be initialised") }
        let reference = "sprechstunde-notification-\(notification.id)"
        var body: [(String, JSON)] = [
            ("to", .string(notification.recipient)), ("text", .string(notification.message.text)),
            ("reference", .string(reference)), ("parts", .int(Int64(SMSText.parts(notification.message.text)))),
        ]
        if let sender = settings.sender { body.append(("sender", .string(sender))) }
        var headers = ["Content-Type: application/json", "Idempotency-Key: \(reference)"]
        if let token = settings.token { headers.append("Authorization: Bearer \(token)") }
        transfer.set(CURLOPT_URL, settings.url)
        transfer.set(CURLOPT_POST, 1)
        transfer.set(CURLOPT_HTTPHEADER, list: headers)
        let bytes = JSON.object(body).serialized()
        transfer.set(CURLOPT_POSTFIELDSIZE, bytes.count)
        transfer.setUpload(bytes)
        let outcome = transfer.perform()
        guard outcome.succeeded else { throw .temporary(outcome.errorText) }
        let status = outcome.responseCode
        if (200..<300).contains(status) { return }
        let answer = String(decoding: outcome.body.prefix(300), as: UTF8.self)
        let reason = "gateway answered \(status)\(answer.isEmpty ? "" : ": \(answer)")"
        if status == 429 || status == 408 || status >= 500 { throw .temporary(reason) }
        throw .permanent(reason, addressRejected: false)
    }
}
