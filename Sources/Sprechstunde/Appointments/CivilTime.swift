import Foundation

/// A calendar date without a time zone ("2026-03-29"), as a practice writes its hours.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Days since 1970-01-01 (proleptic Gregorian calendar).
    public let dayNumber: Int64

    public init(dayNumber: Int64) { self.dayNumber = dayNumber }

    /// Nil unless `year-month-day` is a real date between the years 1970 and 9999.
    public init?(year: Int, month: Int, day: Int) {
        guard (1970...9999).contains(year), (1...12).contains(month),
            (1...Self.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        // Days from civil: count from 1 March so that the leap day ends the year.
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = y / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        dayNumber = era * 146_097 + dayOfEra - 719_468
    }

    /// Parses exactly `YYYY-MM-DD`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    public var components: (year: Int, month: Int, day: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    /// ISO weekday: 1 Monday ... 7 Sunday.
    public var weekday: Int {
        // 1970-01-01 was a Thursday (4).
        Int(((dayNumber + 3) % 7 + 7) % 7) + 1
    }

    public func adding(days: Int64) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    public var description: String {
        let (year, month, day) = components
        return "\(year)-\(Self.twoDigits(month))-\(Self.twoDigits(day))"
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool { lhs.dayNumber < rhs.dayNumber }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

/// A wall-clock time of day as minutes after midnight; 24:00 (1440) ends a day.
public struct LocalTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let minutes: Int

    public init?(minutes: Int) {
        guard (0...1440).contains(minutes) else { return nil }
        self.minutes = minutes
    }

    /// Parses exactly `HH:MM` (00:00 to 24:00).
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
            let hours = Int(parts[0]), let minutes = Int(parts[1]), minutes < 60, hours * 60 + minutes <= 1440
        else { return nil }
        self.minutes = hours * 60 + minutes
    }

    public var description: String { "\(LocalDate.twoDigits(minutes / 60)):\(LocalDate.twoDigits(minutes % 60))" }

    public static func < (lhs: LocalTime, rhs: LocalTime) -> Bool { lhs.minutes < rhs.minutes }
}

/// Conversions between wall-clock time in a zone and Unix seconds, with daylight saving.
public struct ZoneClock: Sendable {
    public let zone: TimeZone

    public init(_ zone: TimeZone) { self.zone = zone }

    func offset(at instant: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    /// The instant of a wall-clock time. A time that happens twice (the hour the clocks go
    /// back) means its first occurrence; a time that never happens (the hour they skip) is
    /// moved forward by the length of the gap, so 02:30 on the spring-forward night is 03:30.
    public func instant(_ date: LocalDate, _ time: LocalTime) -> Int64 {
        let wall = date.dayNumber * 86_400 + Int64(time.minutes) * 60
        // The offsets in force a day either side cover any single transition near `wall`.
        let before = offset(at: wall - 86_400)
        let after = offset(at: wall + 86_400)
        let matches = [wall - before, wall - after].filter { offset(at: $0) == wall - $0 }
        if let first = matches.min() { return first }
        return wall - before
    }

    /// The wall-clock date of an instant.
    public func date(of instant: Int64) -> LocalDate {
        let wall = instant + offset(at: instant)
        return LocalDate(dayNumber: wall >= 0 ? wall / 86_400 : (wall - 86_399) / 86_400)
    }

    /// `2026-03-29T03:00:00+02:00`
    public func iso8601(_ instant: Int64) -> String {
        let offset = offset(at: instant)
        let wall = instant + offset
        let date = date(of: instant)
        let seconds = Int(wall - date.dayNumber * 86_400)
        let sign = offset < 0 ? "-" : "+"
        let magnitude = Int(abs(offset)) / 60
        return "\(date)T\(LocalDate.twoDigits(seconds / 3600)):\(LocalDate.twoDigits(seconds / 60 % 60)):"
            + "\(LocalDate.twoDigits(seconds % 60))\(sign)\(LocalDate.twoDigits(magnitude / 60)):"
            + LocalDate.twoDigits(magnitude % 60)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
