import HTTPServer
import Sprechstunde

extension Call {
    /// The call object in the order the notebook shows it.
    var json: JSON {
        [
            "id": .int(id),
            "created_at": .int(createdAt),
            "updated_at": .int(updatedAt),
            "deleted_at": .int(deletedAt),
            "settings": [
                "queue_type": "", "offline": [],
                "timings": [
                    "lead_time_create": .int(Int64(appointment?.leadTimeCreate ?? 0)),
                    "lead_time_cancel": .int(Int64(appointment?.leadTimeCancel ?? 0)),
                ],
            ],
            "parent": nil,
            "children": nil,
            "begin": .int(begin),
            "duration": .int(duration),
            "room": .string(room),
            "status": .int(status.rawValue),
            "extid": .string(extid),
            "description": .string(description),
            "extendable": extendable.map { .bool($0) } ?? .null,
            "source": nil,
            "users": .array(participants.map(\.json)),
        ]
    }
}

extension CallParticipant {
    /// Participant `status`: 0 invited (never joined), 1 in the call now, 2 joined and left.
    var presence: Int {
        if isPresent { return 1 }
        return lastLogID == nil ? 0 : 2
    }

    var json: JSON {
        [
            "id": .int(userID),
            "user_name": .string(name),
            "status": .int(presence),
            "gender": .string(gender),
            "company_id": .int(companyID),
            "company_name": .string(companyName),
            "ousubsidiary_id": .int(subsidiaryID),
            "oulocation_id": .int(locationID),
            "department_id": .int(departmentID),
            "department_name": .string(departmentName),
            "role_id": .int(role == .tanuser ? Role.tanuser.rawValue : accountRole.rawValue),
            "role_name": .string(role.rawValue),
            "tan": .string(tan ?? ""),
            "tan_valid_until": .int(tanValidUntil),
            "log_id": .int(lastLogID),
            "email": .string(email ?? ""),
            "mobile": .string(mobile),
            "consentstatus": [
                "tan_descriptions_agreed": .bool(descriptionsAgreed), "tan_data_agreed": .bool(dataAgreed),
            ],
        ]
    }
}

extension CallLog {
    var json: JSON {
        let now = Clock.system.now()
        return [
            "id": .int(id),
            "call_id": .int(callID),
            "user_id": .int(userID),
            "created_at": .int(createdAt),
            "updated_at": .int(updatedAt),
            "deleted_at": .int(deletedAt),
            "end": .int(end),
            "duration": .int(duration(now: now)),
            "tan": .string(tan),
            "status_codes": [],
        ]
    }
}
