import Foundation
import Sprechstunde

extension SQLiteStore: CallStore {
    static let callColumns = """
        id, company_id, created_by, begin, duration, room, status, extid, description, extendable, started_at, ended_at,
        created_at, updated_at, deleted_at, appointment_user_id, lead_time_create, lead_time_cancel
        """

    static func call(_ row: Row) -> Call {
        Call(
            id: row.int(0)!, companyID: row.int(1)!, createdBy: row.int(2), begin: row.int(3)!,
            duration: Int(row.int(4)!),
            room: row.text(5)!, status: CallStatus(rawValue: Int(row.int(6)!)) ?? .planned, extid: row.text(7),
            description: row.text(8), extendable: row.int(9).map { $0 != 0 }, startedAt: row.int(10),
            endedAt: row.int(11),
            createdAt: row.int(12)!, updatedAt: row.int(13)!, deletedAt: row.int(14),
            appointment: row.int(15).map {
                Call.Appointment(
                    doctorID: $0, leadTimeCreate: Int(row.int(16) ?? 0), leadTimeCancel: Int(row.int(17) ?? 0))
            })
    }

    /// Refuses an appointment that overlaps another live call of its doctor. Runs inside the
    /// writing transaction, so two reservations of one slot are decided one after the other.
    static func checkSlotFree(
        doctorID: User.ID, begin: Int64, end: Int64, except callID: Call.ID?, in connection: Connection
    ) throws {
        let overlapping = try connection.query(
            """
            SELECT 1 FROM call_participants p JOIN calls c ON c.id = p.call_id
            WHERE p.user_id = ? AND c.deleted_at IS NULL AND c.status != 2 AND c.id != ?
              AND c.begin < ? AND c.begin + c.duration * 60 > ?
            LIMIT 1
            """, [.int(doctorID), .int(callID ?? 0), .int(end), .int(begin)])
        if !overlapping.isEmpty { throw SlotTaken() }
    }

    /// Participants of several calls in one query; the ids travel as a JSON array.
    static let participantSelect = """
        SELECT p.call_id, p.user_id, p.role, p.tan, p.tan_valid_until, u.name, u.email, u.mobile, u.gender,
               (SELECT max(role_id) FROM user_roles WHERE user_id = u.id), u.company_id, c.name, u.ousubsidiary_id,
               u.oulocation_id, u.department_id, d.name, u.tan_data_agreed, u.tan_descriptions_agreed,
               (SELECT max(id) FROM call_logs l WHERE l.call_id = p.call_id AND l.user_id = p.user_id),
               EXISTS (SELECT 1 FROM call_logs l WHERE l.call_id = p.call_id AND l.user_id = p.user_id AND l.end_at IS NULL)
        FROM call_participants p
        JOIN users u ON u.id = p.user_id
        LEFT JOIN companies c ON c.id = u.company_id
        LEFT JOIN organisation_units d ON d.id = u.department_id
        WHERE p.call_id IN (SELECT value FROM json_each(?))
        ORDER BY p.call_id, p.position
        """

    static func participant(_ row: Row) -> CallParticipant {
        var participant = CallParticipant(
            userID: row.int(1)!, role: ParticipantRole(rawValue: row.text(2)!) ?? .tanuser, tan: row.text(3),
            tanValidUntil: row.int(4))
        participant.name = row.text(5) ?? ""
        participant.email = row.text(6)
        participant.mobile = row.text(7)
        participant.gender = row.text(8) ?? "notset"
        participant.accountRole = row.int(9).flatMap { Role(rawValue: Int($0)) } ?? .tanuser
        participant.companyID = row.int(10)
        participant.companyName = row.text(11)
        participant.subsidiaryID = row.int(12)
        participant.locationID = row.int(13)
        participant.departmentID = row.int(14)
        participant.departmentName = row.text(15)
        participant.dataAgreed = row.bool(16)
        participant.descriptionsAgreed = row.bool(17)
        participant.lastLogID = row.int(18)
        participant.isPresent = row.bool(19)
        return participant
    }

    /// Fills in the participants of `calls`.
    static func attachParticipants(_ calls: [Call], in connection: Connection) throws -> [Call] {
        guard !calls.isEmpty else { return calls }
        let ids = "[" + calls.map { String($0.id) }.joined(separator: ",") + "]"
        var byCall: [Call.ID: [CallParticipant]] = [:]
        for row in try connection.query(participantSelect, [.text(ids)]) {
            byCall[row.int(0)!, default: []].append(participant(row))
        }
        return calls.map { call in
            var call = call
            call.participants = byCall[call.id] ?? []
            return call
        }
    }

    static func loadCall(_ id: Call.ID, in connection: Connection) throws -> Call? {
        guard
            let row = try connection.query(
                "SELECT \(callColumns) FROM calls WHERE id = ? AND deleted_at IS NULL", [.int(id)]
            ).first
        else { return nil }
        return try attachParticipants([call(row)], in: connection).first
    }

    static func recordEvent(_ kind: CallEventKind?, for call: Call, in connection: Connection, now: Int64) throws {
        guard let kind else { return }
        let payload = try JSONEncoder().encode(CallEventPayload(kind: kind, call: call))
        try connection.run(
            "INSERT INTO outbox_events (kind, call_id, company_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                .int(Int64(kind.rawValue)), .int(call.id), .int(call.companyID),
                .text(String(decoding: payload, as: UTF8.self)), .int(now),
            ])
    }

    public func insertCall(_ new: NewCall, event: CallEventKind?, now: Int64) throws -> Call {
        let callID = try write(uniqueField: "tan") { connection in
            if let appointment = new.appointment {
                try Self.checkSlotFree(
                    doctorID: appointment.doctorID, begin: new.begin, end: new.begin + Int64(new.duration) * 60,
                    except: nil, in: connection)
            }
            try connection.run(
                """
                INSERT INTO calls (company_id, created_by, begin, duration, room, extid, description, extendable,
                    created_at, updated_at, appointment_user_id, lead_time_create, lead_time_cancel)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .int(new.companyID), .int(new.createdBy), .int(new.begin), .int(Int64(new.duration)),
                    .text(new.room),
                    .text(new.extid), .text(new.description), new.extendable.map { .bool($0) } ?? .null, .int(now),
                    .int(now), .int(new.appointment?.doctorID), .int(Int64(new.appointment?.leadTimeCreate ?? 0)),
                    .int(Int64(new.appointment?.leadTimeCancel ?? 0)),
                ])
            let callID = connection.lastInsertID
            for (position, participant) in new.participants.enumerated() {
                switch participant {
                case .account(let userID, let role):
                    try connection.run(
                        "INSERT INTO call_participants (call_id, user_id, role, position) VALUES (?, ?, ?, ?)",
                        [.int(callID), .int(userID), .text(role.rawValue), .int(Int64(position))])
                case .tanUser(let name, let email, let mobile, let dataAgreed, let tan, let validUntil):
                    try connection.run(
                        """
                        INSERT INTO users (company_id, is_tan_user, name, email, mobile, tan_data_agreed, created_at, updated_at)
                        VALUES (NULL, 1, ?, ?, ?, ?, ?, ?)
                        """, [.text(name), .text(email), .text(mobile), .bool(dataAgreed), .int(now), .int(now)])
                    let userID = connection.lastInsertID
                    try connection.run("INSERT INTO user_roles (user_id, role_id) VALUES (?, 1)", [.int(userID)])
                    try connection.run(
                        """
                        INSERT INTO call_participants (call_id, user_id, role, position, tan, tan_hash, tan_valid_until)
                        VALUES (?, ?, 'tanuser', ?, ?, ?, ?)
                        """,
                        [
                            .int(callID), .int(userID), .int(Int64(position)), .text(tan), .blob(TAN.hash(tan)),
                            .int(validUntil),
                        ])
                }
            }
            // The event needs the participants as stored; without one, the call is read back after
            // the commit on a reader, so the single writer is held as briefly as possible.
            if let event, let call = try Self.loadCall(callID, in: connection) {
                try Self.recordEvent(event, for: call, in: connection, now: now)
            }
            return callID
        }
        guard let call = try self.call(id: callID) else { throw DomainError.notFound("Call \(callID)") }
        return call
    }

    public func call(id: Call.ID) throws -> Call? {
        try database.read { try Self.loadCall(id, in: $0) }
    }

    public func callIncludingDeleted(id: Call.ID) throws -> Call? {
        try database.read { connection in
            guard let row = try connection.query("SELECT \(Self.callColumns) FROM calls WHERE id = ?", [.int(id)]).first
            else { return nil }
            return try Self.attachParticipants([Self.call(row)], in: connection).first
        }
    }

    public func calls(_ query: CallQuery) throws -> Page<Call> {
        try database.read { connection in
            var filter = SQLFilter("deleted_at IS NULL")
            if let companyID = query.companyID { filter.add("company_id = ?", .int(companyID)) }
            if let userID = query.participantUserID {
                filter.add("id IN (SELECT call_id FROM call_participants WHERE user_id = ?)", .int(userID))
            }
            if let status = query.status { filter.add("status = ?", .int(Int64(status.rawValue))) }
            if let from = query.beginFrom { filter.add("begin >= ?", .int(from)) }
            if let to = query.beginTo { filter.add("begin <= ?", .int(to)) }
            if let extid = query.extid { filter.add("extid = ?", .text(extid)) }
            let page = try Self.page(
                query.page, in: connection, select: "SELECT \(Self.callColumns) FROM calls", countFrom: "calls",
                filter: filter, orderBy: "id DESC", map: Self.call)
            return Page(
                items: try Self.attachParticipants(page.items, in: connection), total: page.total, request: page.request
            )
        }
    }

    public func updateCall(_ call: Call, tanValidUntil: Int64, event: CallEventKind?, now: Int64) throws {
        try write { connection in
            if let appointment = call.appointment {
                try Self.checkSlotFree(
                    doctorID: appointment.doctorID, begin: call.begin, end: call.plannedEnd, except: call.id,
                    in: connection)
            }
            let changed = try connection.run(
                """
                UPDATE calls SET begin = ?, duration = ?, description = ?, extid = ?, extendable = ?, updated_at = ?
                WHERE id = ? AND deleted_at IS NULL
                """,
                [
                    .int(call.begin), .int(Int64(call.duration)), .text(call.description), .text(call.extid),
                    call.extendable.map { .bool($0) } ?? .null, .int(now), .int(call.id),
                ])
            // Deleted (cancelled) since the caller read it: report that instead of a change that did not happen.
            guard changed == 1 else { throw DomainError.notFound("Call \(call.id)") }
            try connection.run(
                "UPDATE call_participants SET tan_valid_until = ? WHERE call_id = ? AND tan IS NOT NULL",
                [.int(tanValidUntil), .int(call.id)])
            if let event, let stored = try Self.loadCall(call.id, in: connection) {
                try Self.recordEvent(event, for: stored, in: connection, now: now)
            }
        }
    }

    @discardableResult
    public func deleteCall(id: Call.ID, event: CallEventKind?, now: Int64) throws -> Bool {
        try write { connection in
            let call = try Self.loadCall(id, in: connection)
            let deleted = try connection.run(
                """
                UPDATE calls SET deleted_at = ?1, updated_at = ?1
                WHERE id = ?2 AND deleted_at IS NULL AND status = 0
                  AND NOT EXISTS (SELECT 1 FROM call_logs WHERE call_id = ?2)
                """, [.int(now), .int(id)])
            guard deleted == 1 else { return false }
            try connection.run("DELETE FROM one_time_passwords WHERE call_id = ?", [.int(id)])
            if let call { try Self.recordEvent(event, for: call, in: connection, now: now) }
            return true
        }
    }

    public func callWasJoined(id: Call.ID) throws -> Bool {
        try database.read { connection in
            try connection.query("SELECT EXISTS (SELECT 1 FROM call_logs WHERE call_id = ?)", [.int(id)]).first?.bool(0)
                ?? false
        }
    }

    public func tanHolder(tanHash: [UInt8]) throws -> TANHolder? {
        try database.read { connection in
            try connection.query(
                """
                SELECT p.call_id, p.user_id, p.tan_valid_until, c.deleted_at IS NOT NULL
                FROM call_participants p JOIN calls c ON c.id = p.call_id
                WHERE p.tan_hash = ?
                """, [.blob(tanHash)]
            ).first.map {
                TANHolder(callID: $0.int(0)!, userID: $0.int(1)!, validUntil: $0.int(2) ?? 0, callDeleted: $0.bool(3))
            }
        }
    }

    public func pendingEvents(limit: Int) throws -> [OutboxEvent] {
        try database.read { connection in
            try connection.query(
                """
                SELECT id, kind, call_id, company_id, payload, created_at, delivered_at FROM outbox_events
                WHERE delivered_at IS NULL ORDER BY id LIMIT ?
                """, [.int(Int64(limit))]
            ).compactMap { row in
                guard let kind = CallEventKind(rawValue: Int(row.int(1)!)),
                    let payload = try? JSONDecoder().decode(CallEventPayload.self, from: Data(row.text(4)!.utf8))
                else { return nil }
                return OutboxEvent(
                    id: row.int(0)!, kind: kind, callID: row.int(2)!, companyID: row.int(3)!, payload: payload,
                    createdAt: row.int(5)!, deliveredAt: row.int(6))
            }
        }
    }

    public func markEventDelivered(id: Int64, now: Int64) throws {
        try write { try $0.run("UPDATE outbox_events SET delivered_at = ? WHERE id = ?", [.int(now), .int(id)]) }
    }
}

extension SQLiteStore: OneTimePasswordStore {
    public func insertOneTimePassword(
        hash: [UInt8], userID: User.ID, callID: Call.ID, clientID: MachineClient.ID?, expiresAt: Int64, now: Int64
    ) throws {
        try write(uniqueField: "token") { connection in
            try connection.run(
                """
                INSERT INTO one_time_passwords (token_hash, user_id, call_id, client_id, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, [.blob(hash), .int(userID), .int(callID), .int(clientID), .int(now), .int(expiresAt)])
            // Spent and expired ones are useless: keep the table small.
            try connection.run("DELETE FROM one_time_passwords WHERE expires_at < ?", [.int(now - 86_400)])
        }
    }

    public func oneTimePassword(hash: [UInt8], now: Int64) throws -> (userID: User.ID, callID: Call.ID)? {
        try database.read { connection in
            try connection.query(
                "SELECT user_id, call_id FROM one_time_passwords WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
                [.blob(hash), .int(now)]
            ).first.map { ($0.int(0)!, $0.int(1)!) }
        }
    }

    public func spendOneTimePassword(hash: [UInt8], now: Int64) throws -> (userID: User.ID, callID: Call.ID)? {
        try write { connection in
            try connection.query(
                """
                UPDATE one_time_passwords SET used_at = ?1
                WHERE token_hash = ?2 AND used_at IS NULL AND expires_at > ?1
                RETURNING user_id, call_id
                """, [.int(now), .blob(hash)]
            ).first.map { ($0.int(0)!, $0.int(1)!) }
        }
    }
}
