import Foundation
import Sprechstunde

/// How notifications leave the server: SMTP for e-mail, an HTTP gateway for SMS. Without
/// either, messages are composed and kept in the outbox for admins to read.
public struct DeliveryConfiguration: Sendable {
    var smtpHost: String?
    var smtpPort: Int?
    var smtpSecurity = SMTPTransport.Settings.Security.starttls
    var smtpUser: String?
    var smtpPassword: String?
    var smtpCAFile: String?
    var mailFrom: String?
    var mailFromName: String?
    var smsGatewayURL: String?
    var smsGatewayToken: String?
    var smsSender: String?
    var smsMaximumParts = 3
    var timeZone = TimeZone(identifier: "Europe/Berlin")!
    var backoff: [Int64]?
    var maximumAttempts: Int?

    static let specs: [OptionSpec] = [
        OptionSpec("smtp-host", "HOST", help: "SMTP server for notification e-mails (none: kept in the outbox)"),
        OptionSpec("smtp-port", "PORT", help: "SMTP port (default 587 with starttls, 465 with tls, 25 with none)"),
        OptionSpec(
            "smtp-security", "starttls|tls|none",
            help: "starttls (default, required), tls (SMTPS) or none (local relay)"),
        OptionSpec("smtp-user", "USER", help: "SMTP user name, if the server wants one"),
        OptionSpec("smtp-password", "PASSWORD", help: "SMTP password (better: SPRECHSTUNDE_SMTP_PASSWORD)"),
        OptionSpec("smtp-ca-file", "FILE", help: "CA bundle for the SMTP server's certificate (default: the system's)"),
        OptionSpec("mail-from", "ADDRESS", help: "sender address of notification e-mails (needed with --smtp-host)"),
        OptionSpec("mail-from-name", "NAME", help: "sender name shown with --mail-from"),
        OptionSpec(
            "sms-gateway-url", "URL", help: "HTTP(S) URL that takes one JSON POST per SMS (docs/notifications.md)"),
        OptionSpec("sms-gateway-token", "TOKEN", help: "bearer token for the SMS gateway"),
        OptionSpec("sms-sender", "NAME", help: "sender name or number passed to the SMS gateway"),
        OptionSpec("sms-max-parts", "N", help: "longest SMS in parts of 153 (or 67) characters (default 3)"),
        OptionSpec("time-zone", "ZONE", help: "time zone of times in notifications (default Europe/Berlin)"),
        OptionSpec(
            "delivery-backoff", "SECONDS,...",
            help: "waits before the 2nd, 3rd, ... attempt; the last repeats (default 15,60,300,900,1800,3600)"),
        OptionSpec("delivery-attempts", "N", help: "attempts before a notification is failed (default 12)"),
    ]

    mutating func apply(_ options: ParsedOptions) throws {
        if let host = options.string("smtp-host") { smtpHost = host }
        if let port = try options.int("smtp-port", in: 1...65535) { smtpPort = port }
        if let security = options.string("smtp-security") {
            guard let value = SMTPTransport.Settings.Security(rawValue: security.lowercased()) else {
                throw UsageError(
                    description: "\(options.named("smtp-security")) takes starttls, tls or none, not '\(security)'")
            }
            smtpSecurity = value
        }
        if let user = options.string("smtp-user") { smtpUser = user }
        if let password = options.string("smtp-password") { smtpPassword = password }
        if let file = options.string("smtp-ca-file") { smtpCAFile = file }
        if let from = options.string("mail-from") { mailFrom = from }
        if let name = options.string("mail-from-name") { mailFromName = name }
        if let url = options.string("sms-gateway-url") { smsGatewayURL = url }
        if let token = options.string("sms-gateway-token") { smsGatewayToken = token }
        if let sender = options.string("sms-sender") { smsSender = sender }
        if let parts = try options.int("sms-max-parts", in: 1...10) { smsMaximumParts = parts }
        if let text = options.string("delivery-backoff") {
            let values = text.split(separator: ",").map { Int64($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 86_400 }) else {
                throw UsageError(
                    description:
                        "\(options.named("delivery-backoff")) takes seconds from 1 to 86400 separated by commas, e.g. 15,60,300"
                )
            }
            backoff = values.compactMap { $0 }
        }
        if let attempts = try options.int("delivery-attempts", in: 1...1000) { maximumAttempts = attempts }
        if let zone = options.string("time-zone") {
            guard let value = TimeZone(identifier: zone) else {
                throw UsageError(
                    description: "\(options.named("time-zone")) \(zone) is not a time zone name such as Europe/Berlin")
            }
            timeZone = value
        }
    }

    func validate() throws {
        if smtpHost != nil {
            guard let mailFrom, Self.looksLikeAddress(mailFrom) else {
                throw UsageError(
                    description: "--smtp-host needs --mail-from with the sender address, e.g. video@praxis.example")
            }
        }
        if let mailFrom, !Self.looksLikeAddress(mailFrom) {
            throw UsageError(description: "--mail-from \(mailFrom) is not an e-mail address")
        }
        if let file = smtpCAFile, !FileManager.default.isReadableFile(atPath: file) {
            throw UsageError(description: "--smtp-ca-file \(file) cannot be read")
        }
        if let url = smsGatewayURL, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            throw UsageError(description: "--sms-gateway-url must start with https:// (or http://), not '\(url)'")
        }
    }

    static func looksLikeAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return !text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "\"" })
    }

    var mail: SMTPTransport.Settings? {
        guard let smtpHost, let mailFrom else { return nil }
        let port = smtpPort ?? (smtpSecurity == .tls ? 465 : smtpSecurity == .starttls ? 587 : 25)
        return SMTPTransport.Settings(
            host: smtpHost, port: port, security: smtpSecurity, username: smtpUser, password: smtpPassword,
            from: mailFrom, fromName: mailFromName, caFile: smtpCAFile)
    }

    var sms: SMSGatewayTransport.Settings? {
        smsGatewayURL.map {
            SMSGatewayTransport.Settings(url: $0, token: smsGatewayToken, sender: smsSender)
        }
    }
}
