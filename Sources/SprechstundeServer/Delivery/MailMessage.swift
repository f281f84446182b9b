import Foundation
import Sprechstunde

/// An e-mail as RFC 5322 / MIME text: plain text and HTML as alternatives, the iCalendar entry
/// as an attachment (`text/calendar; method=...`). Bodies are base64 so that any UTF-8 survives
/// every relay; header words with non-ASCII text are RFC 2047 encoded.
enum MailMessage {
    static func render(
        _ notification: OutboxMessage, from address: String, fromName: String?, messageDomain: String, date: Int64
    ) -> [UInt8] {
        let message = notification.message
        let mixed = "mixed-\(notification.id)-\(boundaryTag(notification))"
        let alternative = "alt-\(notification.id)-\(boundaryTag(notification))"
        var lines = [
            "From: \(fromName.map { "\(encodedWord($0)) " } ?? "")<\(address)>",
            "To: <\(notification.recipient)>",
            "Subject: \(encodedWord(message.subject))",
            "Date: \(rfc5322Date(date))",
            // Stable per notification: a resend after a crash carries the same id, so that
            // receivers can tell it is the same message.
            "Message-ID: <notification-\(notification.id)@\(messageDomain)>",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
            "Content-Type: multipart/mixed; boundary=\"\(mixed)\"",
            "",
            "--\(mixed)",
            "Content-Type: multipart/alternative; boundary=\"\(alternative)\"",
            "",
            "--\(alternative)",
        ]
        lines += part("text/plain; charset=utf-8", message.text)
        if let html = message.html {
            lines.append("--\(alternative)")
            lines += part("text/html; charset=utf-8", html)
        }
        lines.append("--\(alternative)--")
        if let calendar = message.calendar {
            let method = message.calendarMethod ?? "REQUEST"
            lines.append("--\(mixed)")
            lines += part(
                "text/calendar; charset=utf-8; method=\(method)", calendar,
                disposition: "attachment; filename=\"\(method == "CANCEL" ? "cancel" : "invite").ics\"")
        }
        lines.append("--\(mixed)--")
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    static func part(_ contentType: String, _ body: String, disposition: String? = nil) -> [String] {
        var lines = ["Content-Type: \(contentType)", "Content-Transfer-Encoding: base64"]
        if let disposition { lines.append("Content-Disposition: \(disposition)") }
        lines.append("")
        let encoded = Data(body.utf8).base64EncodedString()
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            lines.append(String(encoded[index..<end]))
            index = end
        }
        return lines
    }

    /// Boundaries must not occur in the parts; base64 never contains "-", so any tag works.
    static func boundaryTag(_ notification: OutboxMessage) -> String {
        String(notification.createdAt, radix: 36)
    }

    /// `=?UTF-8?B?...?=` when the text is not plain ASCII, in chunks that keep lines short.
    static func encodedWord(_ text: String) -> String {
        let clean = text.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: " ")
        if clean.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return clean }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in clean {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    static func rfc5322Date(_ seconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
