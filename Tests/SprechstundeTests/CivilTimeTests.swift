import Foundation
import Testing

@testable import Sprechstunde

@Suite("Dates, times and zones of consultation hours")
struct CivilTimeTests {
    static let berlin = ZoneClock(TimeZone(identifier: "Europe/Berlin")!)
    static let newYork = ZoneClock(TimeZone(identifier: "America/New_York")!)

    static func utc(_ text: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: text)!.timeIntervalSince1970)
    }

    static func date(_ text: String) -> LocalDate { LocalDate(text)! }
    static func time(_ text: String) -> LocalTime { LocalTime(text)! }

    @Test("day numbers agree with Foundation's Gregorian calendar from 1970 to 9999")
    func dayNumbersMatchFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for day in stride(from: Int64(0), through: 2_932_896, by: 997) {
            let parts = calendar.dateComponents(
                [.year, .month, .day, .weekday], from: Date(timeIntervalSince1970: TimeInterval(day * 86_400)))
            let date = LocalDate(dayNumber: day)
            #expect(date.components == (parts.year!, parts.month!, parts.day!))
            #expect(LocalDate(year: parts.year!, month: parts.month!, day: parts.day!) == date)
            // Foundation counts Sunday as 1; ISO as 7.
            #expect(date.weekday == (parts.weekday! + 5) % 7 + 1)
        }
    }

    @Test("dates are parsed strictly")
    func parsing() {
        #expect(LocalDate("2028-02-29")?.description == "2028-02-29")
        #expect(LocalDate("1970-01-01")?.weekday == 4)
        #expect(LocalDate("2027-03-28")?.weekday == 7)
        for bad in [
            "2027-02-29", "2100-02-29", "2027-13-01", "2027-00-10", "2027-1-01", "27-01-01", "2027-01-32",
            "2027/01/01", "2027-01-01 ", "١٢٣٤-01-01", "", "1969-12-31",
        ] {
            #expect(LocalDate(bad) == nil, "\(bad)")
        }
        #expect(LocalTime("09:30")?.minutes == 570)
        #expect(LocalTime("24:00")?.minutes == 1440)
        #expect(LocalTime("00:00")?.description == "00:00")
        for bad in ["24:01", "25:00", "14:5", "9:30", "14:60", "14-30", "+1:30", ""] {
            #expect(LocalTime(bad) == nil, "\(bad)")
        }
    }

    @Test("wall-clock times become instants with the offset in force then")
    func ordinaryTimes() {
        #expect(Self.berlin.instant(Self.date("2027-01-12"), Self.time("14:00")) == Self.utc("2027-01-12T13:00:00Z"))
        #expect(Self.berlin.instant(Self.date("2027-07-13"), Self.time("14:00")) == Self.utc("2027-07-13T12:00:00Z"))
        #expect(Self.berlin.instant(Self.date("2027-07-13"), Self.time("24:00")) == Self.utc("2027-07-13T22:00:00Z"))
        #expect(Self.berlin.iso8601(Self.utc("2027-07-13T12:00:00Z")) == "2027-07-13T14:00:00+02:00")
        #expect(Self.newYork.iso8601(Self.utc("2027-01-12T19:05:09Z")) == "2027-01-12T14:05:09-05:00")
        #expect(Self.berlin.date(of: Self.utc("2027-07-13T22:30:00Z")) == Self.date("2027-07-14"))
        #expect(Self.newYork.date(of: Self.utc("2027-07-14T02:30:00Z")) == Self.date("2027-07-13"))
    }

    @Test("a skipped time moves forward by the gap; a repeated time is its first occurrence")
    func daylightSavingEdges() {
        let spring = Self.date("2027-03-28")
        #expect(Self.berlin.instant(spring, Self.time("01:59")) == Self.utc("2027-03-28T00:59:00Z"))
        #expect(Self.berlin.instant(spring, Self.time("02:30")) == Self.utc("2027-03-28T01:30:00Z"))
        #expect(Self.berlin.instant(spring, Self.time("03:00")) == Self.utc("2027-03-28T01:00:00Z"))
        let autumn = Self.date("2027-10-31")
        #expect(Self.berlin.instant(autumn, Self.time("02:30")) == Self.utc("2027-10-31T00:30:00Z"))
        #expect(Self.berlin.instant(autumn, Self.time("03:00")) == Self.utc("2027-10-31T02:00:00Z"))
        #expect(Self.berlin.iso8601(Self.utc("2027-10-31T01:30:00Z")) == "2027-10-31T02:30:00+01:00")
        // New York changes at 02:00 local on other dates.
        #expect(
            Self.newYork.instant(Self.date("2027-03-14"), Self.time("02:30")) == Self.utc("2027-03-14T07:30:00Z"))
        #expect(
            Self.newYork.instant(Self.date("2027-11-07"), Self.time("01:30")) == Self.utc("2027-11-07T05:30:00Z"))
    }
}

@Suite("Time slots from consultation hours")
struct SlotPlannerTests {
    static let doctor: User.ID = 7
    static let berlin = CivilTimeTests.berlin

    static func entry(
        _ kind: Availability.Kind = .available, weekday: Int? = nil, date: String? = nil, _ start: String,
        _ end: String, length: Int? = 30, from: String? = nil, until: String? = nil
    ) -> Availability {
        Availability(
            id: 1, companyID: 1, userID: doctor, kind: kind, weekday: weekday, date: date.map(CivilTimeTests.date),
            start: CivilTimeTests.time(start), end: CivilTimeTests.time(end),
            slotLength: kind == .available ? length : nil,
            validFrom: from.map(CivilTimeTests.date), validUntil: until.map(CivilTimeTests.date), createdAt: 0,
            updatedAt: 0)
    }

    /// The slots of one local day in `zone`, as wall-clock strings.
    static func day(
        _ day: String, _ entries: [Availability], busy: [(begin: Int64, end: Int64)] = [], earliest: Int64 = 0,
        zone: ZoneClock = berlin
    ) -> [String] {
        let date = CivilTimeTests.date(day)
        let from = zone.instant(date, LocalTime(minutes: 0)!)
        let to = zone.instant(date.adding(days: 1), LocalTime(minutes: 0)!)
        return SlotPlanner.freeSlots(
            userID: doctor, entries: entries, busy: busy, from: from, to: to, earliest: earliest, clock: zone
        ).map { zone.iso8601($0.begin) }
    }

    @Test("a night window holds the real hours: two on the spring night, four in autumn")
    func nightWindowAcrossClockChanges() {
        let sundays = [Self.entry(weekday: 7, "01:00", "04:00")]
        #expect(Self.day("2027-03-21", sundays).count == 6)
        #expect(
            Self.day("2027-03-28", sundays) == [
                "2027-03-28T01:00:00+01:00", "2027-03-28T01:30:00+01:00", "2027-03-28T03:00:00+02:00",
                "2027-03-28T03:30:00+02:00",
            ])
        #expect(
            Self.day("2027-10-31", sundays) == [
                "2027-10-31T01:00:00+02:00", "2027-10-31T01:30:00+02:00", "2027-10-31T02:00:00+02:00",
                "2027-10-31T02:30:00+02:00", "2027-10-31T02:00:00+01:00", "2027-10-31T02:30:00+01:00",
                "2027-10-31T03:00:00+01:00", "2027-10-31T03:30:00+01:00",
            ])
    }

    @Test("afternoon hours keep their wall-clock times on either side of a change")
    func afternoonAcrossClockChanges() {
        let sundays = [Self.entry(weekday: 7, "14:00", "17:00", length: 15)]
        for day in ["2027-03-21", "2027-03-28", "2027-04-04", "2027-10-31"] {
            let slots = Self.day(day, sundays)
            #expect(slots.count == 12)
            #expect(slots.first?.hasPrefix("\(day)T14:00:00") == true)
            #expect(slots.last?.hasPrefix("\(day)T16:45:00") == true)
        }
        let newYork = CivilTimeTests.newYork
        #expect(
            Self.day("2027-03-14", sundays, zone: newYork).first == "2027-03-14T14:00:00-04:00")
    }

    @Test("exceptions, busy times and the earliest begin remove slots")
    func removals() {
        let tuesday = "2027-01-12"
        let hours = Self.entry(weekday: 2, "14:00", "17:00", length: 15)
        #expect(Self.day(tuesday, [hours]).count == 12)
        let lunch = Self.entry(.unavailable, weekday: 2, "15:00", "15:30")
        #expect(Self.day(tuesday, [hours, lunch]).count == 10)
        #expect(!Self.day(tuesday, [hours, lunch]).contains("2027-01-12T15:15:00+01:00"))
        let dayOff = Self.entry(.unavailable, date: tuesday, "00:00", "24:00")
        #expect(Self.day(tuesday, [hours, dayOff]).isEmpty)
        #expect(Self.day("2027-01-19", [hours, dayOff]).count == 12)
        // A call from 14:10 to 14:40 blocks the slots it overlaps: 14:00, 14:15 and 14:30.
        let call = CivilTimeTests.utc("2027-01-12T13:10:00Z")
        #expect(Self.day(tuesday, [hours], busy: [(call, call + 1800)]).count == 9)
        #expect(Self.day(tuesday, [hours], earliest: CivilTimeTests.utc("2027-01-12T15:00:00Z")).count == 4)
    }

    @Test("weekly hours apply from valid_from to valid_until; single dates only on their day")
    func validity() {
        let hours = Self.entry(weekday: 2, "09:00", "10:00", from: "2027-01-12", until: "2027-01-19")
        #expect(Self.day("2027-01-05", [hours]).isEmpty)
        #expect(Self.day("2027-01-12", [hours]).count == 2)
        #expect(Self.day("2027-01-19", [hours]).count == 2)
        #expect(Self.day("2027-01-26", [hours]).isEmpty)
        let once = Self.entry(date: "2027-01-13", "08:00", "08:45", length: 20)
        #expect(Self.day("2027-01-13", [once]) == ["2027-01-13T08:00:00+01:00", "2027-01-13T08:20:00+01:00"])
        #expect(Self.day("2027-01-20", [once]).isEmpty)
    }

    @Test("hours near midnight in a zone far from UTC")
    func farZone() {
        let auckland = ZoneClock(TimeZone(identifier: "Pacific/Auckland")!)
        let hours = Self.entry(weekday: 1, "00:00", "01:00", length: 20)
        #expect(
            Self.day("2027-01-11", [hours], zone: auckland) == [
                "2027-01-11T00:00:00+13:00", "2027-01-11T00:20:00+13:00", "2027-01-11T00:40:00+13:00",
            ])
        let late = Self.entry(weekday: 1, "23:00", "24:00", length: 30)
        #expect(Self.day("2027-01-11", [late], zone: auckland).count == 2)
    }
}
