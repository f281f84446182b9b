import HTTPServer
import Sprechstunde

extension Availability {
    var json: JSON {
        [
            "id": .int(id),
            "user_id": .int(userID),
            "company_id": .int(companyID),
            "kind": .string(kind.rawValue),
            "weekday": weekday.map { .int(Int64($0)) } ?? .null,
            "date": .string(date?.description),
            "start": .string(start.description),
            "end": .string(end.description),
            "slot_length": slotLength.map { .int(Int64($0)) } ?? .null,
            "valid_from": .string(validFrom?.description),
            "valid_until": .string(validUntil?.description),
            "created_at": .int(createdAt),
            "updated_at": .int(updatedAt),
        ]
    }
}

extension AppointmentSettings {
    var json: JSON {
        [
            "time_zone": .string(timeZone),
            "timings": [
                "lead_time_create": .int(Int64(leadTimeCreate)), "lead_time_cancel": .int(Int64(leadTimeCancel)),
            ],
        ]
    }
}

extension TimeSlot {
    /// Unix times for programs, wall-clock times in the practice's zone for people.
    func json(_ zone: ZoneClock) -> JSON {
        [
            "user_id": .int(userID),
            "begin": .int(begin),
            "end": .int(end),
            "duration": .int(Int64(duration)),
            "local_begin": .string(zone.iso8601(begin)),
            "local_end": .string(zone.iso8601(end)),
        ]
    }
}
