import Sprechstunde

extension SQLiteStore: AppointmentStore {
    static let availabilityColumns = """
        id, company_id, user_id, kind, weekday, date, start_minute, end_minute, slot_length, valid_from, valid_until,
        created_at, updated_at
        """

    static func availability(_ row: Row) -> Availability {
        Availability(
            id: row.int(0)!, companyID: row.int(1)!, userID: row.int(2)!,
            kind: Availability.Kind(rawValue: row.text(3)!) ?? .unavailable, weekday: row.int(4).map { Int($0) },
            date: row.text(5).flatMap(LocalDate.init), start: LocalTime(minutes: Int(row.int(6)!))!,
            end: LocalTime(minutes: Int(row.int(7)!))!, slotLength: row.int(8).map { Int($0) },
            validFrom: row.text(9).flatMap(LocalDate.init), validUntil: row.text(10).flatMap(LocalDate.init),
            createdAt: row.int(11)!, updatedAt: row.int(12)!)
    }

    static func parameters(_ entry: Availability) -> [SQLValue] {
        [
            .text(entry.kind.rawValue), .int(entry.weekday.map { Int64($0) }), .text(entry.date?.description),
            .int(Int64(entry.start.minutes)), .int(Int64(entry.end.minutes)),
            .int(entry.slotLength.map { Int64($0) }), .text(entry.validFrom?.description),
            .text(entry.validUntil?.description),
        ]
    }

    public func appointmentSettings(companyID: Company.ID) throws -> AppointmentSettings? {
        try database.read { connection in
            try connection.query(
                "SELECT time_zone, lead_time_create, lead_time_cancel FROM appointment_settings WHERE company_id = ?",
                [.int(companyID)]
            ).first.map {
                AppointmentSettings(
                    timeZone: $0.text(0)!, leadTimeCreate: Int($0.int(1)!), leadTimeCancel: Int($0.int(2)!))
            }
        }
    }

    public func saveAppointmentSettings(_ settings: AppointmentSettings, companyID: Company.ID, now: Int64) throws {
        try write { connection in
            try connection.run(
                """
                INSERT INTO appointment_settings (company_id, time_zone, lead_time_create, lead_time_cancel, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5)
                ON CONFLICT (company_id) DO UPDATE SET time_zone = ?2, lead_time_create = ?3, lead_time_cancel = ?4,
                    updated_at = ?5
                """,
                [
                    .int(companyID), .text(settings.timeZone), .int(Int64(settings.leadTimeCreate)),
                    .int(Int64(settings.leadTimeCancel)), .int(now),
                ])
        }
    }

    public func insertAvailability(_ entry: Availability) throws -> Availability {
        try write { connection in
            try connection.run(
                """
                INSERT INTO availabilities (kind, weekday, date, start_minute, end_minute, slot_length, valid_from,
                    valid_until, company_id, user_id, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                Self.parameters(entry) + [
                    .int(entry.companyID), .int(entry.userID), .int(entry.createdAt), .int(entry.updatedAt),
                ])
            var stored = entry
            stored.id = connection.lastInsertID
            return stored
        }
    }

    public func availability(id: Availability.ID) throws -> Availability? {
        try database.read { connection in
            try connection.query("SELECT \(Self.availabilityColumns) FROM availabilities WHERE id = ?", [.int(id)])
                .first.map(Self.availability)
        }
    }

    public func availabilities(companyID: Company.ID, userID: User.ID?, page: PageRequest) throws -> Page<Availability>
    {
        try database.read { connection in
            var filter = SQLFilter()
            filter.add("company_id = ?", .int(companyID))
            if let userID { filter.add("user_id = ?", .int(userID)) }
            return try Self.page(
                page, in: connection, select: "SELECT \(Self.availabilityColumns) FROM availabilities",
                countFrom: "availabilities", filter: filter, orderBy: "user_id, id", map: Self.availability)
        }
    }

    public func availabilities(userID: User.ID) throws -> [Availability] {
        try database.read { connection in
            try connection.query(
                "SELECT \(Self.availabilityColumns) FROM availabilities WHERE user_id = ? ORDER BY id", [.int(userID)]
            ).map(Self.availability)
        }
    }

    public func updateAvailability(_ entry: Availability) throws {
        try write { connection in
            try connection.run(
                """
                UPDATE availabilities SET kind = ?, weekday = ?, date = ?, start_minute = ?, end_minute = ?,
                    slot_length = ?, valid_from = ?, valid_until = ?, user_id = ?, updated_at = ?
                WHERE id = ?
                """, Self.parameters(entry) + [.int(entry.userID), .int(entry.updatedAt), .int(entry.id)])
        }
    }

    public func deleteAvailability(id: Availability.ID) throws {
        try write { connection in
            try connection.run("DELETE FROM availabilities WHERE id = ?", [.int(id)])
        }
    }

    public func busyIntervals(userID: User.ID, from: Int64, to: Int64) throws -> [(begin: Int64, end: Int64)] {
        try database.read { connection in
            try connection.query(
                """
                SELECT c.begin, c.begin + c.duration * 60 FROM call_participants p JOIN calls c ON c.id = p.call_id
                WHERE p.user_id = ? AND c.deleted_at IS NULL AND c.status != 2
                  AND c.begin < ? AND c.begin + c.duration * 60 > ?
                ORDER BY c.begin
                """, [.int(userID), .int(to), .int(from)]
            ).map { (begin: $0.int(0)!, end: $0.int(1)!) }
        }
    }
}
