import HTTPServer
import Sprechstunde

/// The wire format of single resources and paginated lists.
enum Wire {
    /// `{"data": {...}}`
    static func single(_ value: JSON, status: Int = 200) -> Response {
        .json(["data": value], status: status)
    }

    /// Laravel-style pagination: `data`, `links` and `meta`, with links that keep the
    /// request's other query arguments so that following `next` gives the next page.
    static func page<T>(_ page: Page<T>, request: Request, base: String, encode: (T) -> JSON) -> Response {
        let path = base + request.path
        let kept = request.queryItems.filter { $0.0 != "page" }
        func link(_ number: Int) -> JSON {
            let items = kept + [("page", String(number))]
            return .string(
                path + "?" + items.map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&"))
        }
        let current = page.request.page
        let from = page.items.isEmpty ? JSON.null : .int(page.request.offset + 1)
        let to = page.items.isEmpty ? JSON.null : .int(page.request.offset + page.items.count)
        return .json([
            "data": .array(page.items.map(encode)),
            "links": [
                "first": link(1),
                "last": link(page.lastPage),
                "prev": current > 1 ? link(current - 1) : .null,
                "next": current < page.lastPage ? link(current + 1) : .null,
            ],
            "meta": [
                "current_page": .int(current),
                "from": from,
                "last_page": .int(page.lastPage),
                "path": .string(path),
                "per_page": .int(page.request.perPage),
                "to": to,
                "total": .int(page.total),
            ],
        ])
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

extension Company {
    var json: JSON {
        [
            "id": .int(id), "name": .string(name), "extid": .string(extid), "created_at": .int(createdAt),
            "updated_at": .int(updatedAt), "deleted_at": .int(deletedAt),
        ]
    }
}

extension OrganisationUnit {
    var json: JSON {
        [
            "id": .int(id), "name": .string(name), "type": .string(kind.rawValue), "company_id": .int(companyID),
            "created_at": .int(createdAt), "updated_at": .int(updatedAt),
        ]
    }
}

extension Role {
    var json: JSON { ["id": .int(rawValue), "name": .string(name)] }
}

extension User {
    /// The user object in the order the notebook shows it. Never a password or hash.
    var json: JSON {
        [
            "id": .int(id),
            "name": .string(name),
            "firstname": .string(firstname),
            "lastname": .string(lastname),
            "title": .string(title),
            "created_at": .int(createdAt),
            "updated_at": .int(updatedAt),
            "deleted_at": .int(deletedAt),
            "status": ["no_approbation_reminder_until": nil, "pending_email": nil],
            "gender": .string(gender),
            "company_id": .int(companyID),
            "company_name": .string(companyName ?? ""),
            "ousubsidiary_id": .int(subsidiaryID),
            "ousubsidiary_name": .string(subsidiaryName ?? ""),
            "oulocation_id": .int(locationID),
            "oulocation_name": .string(locationName ?? ""),
            "department_id": .int(departmentID),
            "department_name": .string(departmentName ?? ""),
            "languages": .array(languages.map { .string($0) }),
            "roles": .array(roles.map(\.json)),
            "permissions": [],
            "tan": "",
            "tan_valid_from": "",
            "tan_valid_until": nil,
            "tan_by_id": nil,
            "tan_by_type": nil,
            "tan_created_type": nil,
            "consentstatus": [
                "tan_descriptions_agreed": .bool(descriptionsAgreed), "tan_data_agreed": .bool(dataAgreed),
            ],
            "tags": [],
            "email_verified_at": .int(createdAt),
            "is_unlocked": .int(isUnlocked ? 1 : 0),
            "expires_at": .int(expiresAt),
            "is_app_user": false,
            "description": .string(description),
            "extid": .string(extid),
            "newsletter": ["generals": false, "updates": false],
            "email": .string(email),
            "mobile": .string(mobile),
            "notification_options": .array(NotificationOption.complete(notificationOptions).map(\.json)),
        ]
    }
}

extension NotificationOption {
    var json: JSON {
        [
            "notification_id": .int(kind.rawValue),
            "enabled": .bool(enabled),
            "value": kind.isChannel ? .array(values.map { .string($0) }) : nil,
        ]
    }
}
