/// Turns consultation hours into concrete time slots. Pure: the zone, the entries and the busy
/// times come in, the slots go out.
///
/// A window runs from the instant of its start to the instant of its end on that day, and its
/// slots follow each other in real time. On the nights the clocks change, a window over the
/// changed hour therefore holds one slot-hour less (spring) or more (autumn), exactly the time
/// the doctor is really there; see `ZoneClock.instant` for skipped and repeated times.
public enum SlotPlanner {
    /// The slots of `userID` that begin in `from ..< to`, not before `earliest`, outside every
    /// `unavailable` entry and every busy interval, ordered by begin; the first `limit` of them.
    public static func freeSlots(
        userID: User.ID, entries: [Availability], busy: [(begin: Int64, end: Int64)], from: Int64, to: Int64,
        earliest: Int64, clock: ZoneClock, limit: Int = .max
    ) -> [TimeSlot] {
        guard from < to, limit > 0 else { return [] }
        // A window lies within one local day; a day either side catches slots near midnight.
        let firstDay = clock.date(of: from).adding(days: -1)
        let lastDay = clock.date(of: to).adding(days: 1)
        let own = entries.filter { $0.userID == userID }
        var blocked = busy
        var day = firstDay
        while day <= lastDay {
            for entry in own where entry.kind == .unavailable && entry.applies(on: day) {
                blocked.append((clock.instant(day, entry.start), clock.instant(day, entry.end)))
            }
            day = day.adding(days: 1)
        }
        // Day by day, so that a long range stops as soon as `limit` slots are found.
        var result: [TimeSlot] = []
        day = firstDay
        while day <= lastDay && result.count < limit {
            var slots = Set<TimeSlot>()
            for entry in own where entry.kind == .available && entry.applies(on: day) {
                guard let length = entry.slotLength, length > 0 else { continue }
                let windowEnd = clock.instant(day, entry.end)
                var begin = clock.instant(day, entry.start)
                while begin + Int64(length) * 60 <= windowEnd {
                    if begin >= from && begin < to && begin >= earliest {
                        slots.insert(TimeSlot(userID: userID, begin: begin, duration: length))
                    }
                    begin += Int64(length) * 60
                }
            }
            result += slots.filter { slot in !blocked.contains { $0.begin < slot.end && slot.begin < $0.end } }
                .sorted { ($0.begin, $0.duration) < ($1.begin, $1.duration) }
            day = day.adding(days: 1)
        }
        return Array(result.prefix(limit))
    }
}
