import HTTPServer
import Sprechstunde

extension Application {
    func registerUserRoutes(_ router: inout Router) {
        router.get("/api/v2/users") { [self] request in
            let principal = try principal(request)
            let page = try pageRequest(request)
            var role: Role?
            if let text = request.query("role") {
                role = Int(text).flatMap(Role.init(rawValue:)) ?? Role.allCases.first { $0.name == text }
                if role == nil {
                    throw DomainError.invalid("role", "role must be a role id (1-5) or name such as doc.")
                }
            }
            let search = request.query("search").flatMap { $0.isEmpty ? nil : $0 }
            let users = try users.list(as: principal, search: search, role: role, page: page)
            return Wire.page(users, request: request, base: baseURL(request)) { $0.json }
        }
        router.get("/api/v2/users/{id}") { [self] request in
            Wire.single(try users.get(as: principal(request), id: pathID(request)).json)
        }
        router.post("/api/v2/users") { [self] request in
            let principal = try principal(request)
            let input = try Self.userInput(request)
            return Wire.single(try users.create(as: principal, input).json, status: 201)
        }
        // PUT and PATCH both change only the fields given (what ak clients expect).
        let update: Router.Handler = { [self] request in
            let principal = try principal(request)
            let id = try pathID(request)
            let input = try Self.userInput(request)
            return Wire.single(try users.update(as: principal, id: id, input).json)
        }
        router.put("/api/v2/users/{id}", update)
        router.patch("/api/v2/users/{id}", update)
        router.delete("/api/v2/users/{id}") { [self] request in
            try users.delete(as: principal(request), id: pathID(request))
            return .noContent
        }
    }

    /// Decodes the user fields of a create or update body; type errors are a 422.
    static func userInput(_ request: Request) throws -> UserInput {
        var body = try RequestBody(request)
        var input = UserInput()
        input.name = body.string("name")
        input.email = body.string("email")
        input.password = body.string("password")
        input.companyID = body.int("company_id")
        input.roles = body.intList("roles")
        input.title = body.nullableString("title").map { $0 ?? "" }
        input.gender = body.nullableString("gender").map { $0 ?? "notset" }
        input.mobile = body.nullableString("mobile")
        input.languages = body.value("languages")?.isNull == true ? [] : body.stringList("languages")
        input.extid = body.nullableString("extid")
        input.description = body.nullableString("description")
        input.subsidiaryID = body.nullableInt("ousubsidiary_id")
        input.locationID = body.nullableInt("oulocation_id")
        input.departmentID = body.nullableInt("department_id")
        input.expiresAt = body.nullableInt("expires_at")
        input.isUnlocked = body.bool("is_unlocked")
        if let entries = body.objectList("notification_options") {
            var options: [NotificationOptionInput] = []
            for (index, reader) in entries {
                var entry = reader
                let id = entry.require("notification_id") ? entry.int("notification_id") : nil
                let enabled = entry.bool("enabled") ?? false
                var values: [String] = []
                switch entry.value("value") {
                case nil, .null?: break
                case .string(let single)?: values = [single]  // one address instead of a list
                default: values = entry.stringList("value") ?? []
                }
                body.adopt(entry, prefix: "notification_options.\(index)")
                if let id {
                    options.append(
                        NotificationOptionInput(notificationID: Int(clamping: id), enabled: enabled, values: values))
                }
            }
            input.notificationOptions = options
        }
        try body.check()
        return input
    }
}
