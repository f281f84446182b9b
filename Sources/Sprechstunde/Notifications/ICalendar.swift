import Foundation

/// An iCalendar (RFC 5545) object with one event: what calendar programs read from the
/// invitation's attachment. Times are written in UTC, so no VTIMEZONE is needed; the same `uid`
/// with a higher `sequence` updates or (METHOD:CANCEL) removes the entry.
public struct ICalendar: Sendable, Equatable {
    public enum Method: String, Sendable {
        case request = "REQUEST"
        case cancel = "CANCEL"
    }

    public var method: Method
    public var uid: String
    public var sequence: Int
    public var start: Int64
    public var end: Int64
    /// When the entry was made (DTSTAMP).
    public var stamp: Int64
    public var summary: String
    public var description: String
    public var location: String?
    /// `mailto:` of the sender; calendar programs want an organizer for REQUEST and CANCEL.
    public var organizer: String
    public var attendee: String?

    public init(
        method: Method, uid: String, sequence: Int, start: Int64, end: Int64, stamp: Int64, summary: String,
        description: String, location: String?, organizer: String, attendee: String?
    ) {
        self.method = method
        self.uid = uid
        self.sequence = sequence
        self.start = start
        self.end = end
        self.stamp = stamp
        self.summary = summary
        self.description = description
        self.location = location
        self.organizer = organizer
        self.attendee = attendee
    }

    /// The text, lines ended with CRLF and folded at 75 octets.
    public var text: String {
        var lines = [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Sprechstunde//Video consultation//DE",
            "CALSCALE:GREGORIAN", "METHOD:\(method.rawValue)", "BEGIN:VEVENT",
            "UID:\(Self.escape(uid))", "SEQUENCE:\(sequence)", "DTSTAMP:\(Self.utc(stamp))",
            "DTSTART:\(Self.utc(start))", "DTEND:\(Self.utc(end))", "SUMMARY:\(Self.escape(summary))",
            "DESCRIPTION:\(Self.escape(description))",
        ]
        if let location { lines.append("LOCATION:\(Self.escape(location))") }
        lines.append("ORGANIZER:mailto:\(organizer)")
        if let attendee { lines.append("ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:\(attendee)") }
        lines.append("STATUS:\(method == .cancel ? "CANCELLED" : "CONFIRMED")")
        lines += ["TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
        return lines.map(Self.fold).joined(separator: "\r\n") + "\r\n"
    }

    /// `20261208T130000Z`.
    static func utc(_ seconds: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let year = String(parts.year ?? 1970)
        return "\(year)\(two(parts.month))\(two(parts.day))T\(two(parts.hour))\(two(parts.minute))\(two(parts.second))Z"
    }

    /// TEXT values: backslash, semicolon, comma and newlines escaped (RFC 5545 3.3.11).
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\n", "\r\n": out += "\\n"
            case "\r": break
            default: out.append(character)
            }
        }
        return out
    }

    /// Lines longer than 75 octets continue on the next line after a space, never inside a
    /// UTF-8 sequence.
    static func fold(_ line: String) -> String {
        var result = ""
        var length = 0
        for character in line {
            let size = String(character).utf8.count
            if length + size > 75 {
                result += "\r\n "
                length = 1
            }
            result.append(character)
            length += size
        }
        return result
    }
}
