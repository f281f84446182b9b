import HTTPServer
import Sprechstunde

extension Application {
    func registerCallRoutes(_ router: inout Router) {
        router.get("/api/v2/calls") { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            var filters = QueryFilters(request)
            var status: CallStatus?
            if let value = filters.int("status") {
                status = CallStatus(rawValue: Int(value))
                if status == nil {
                    filters.errors.add("status", "status must be 0 (planned), 1 (running) or 2 (ended).")
                }
            }
            let from = filters.int("from")
            let to = filters.int("to")
            try filters.check()
            let page = try calls.list(
                as: principal, status: status, beginFrom: from, beginTo: to,
                extid: request.query("extid").flatMap { $0.isEmpty ? nil : $0 },
                page: pageRequest(request))
            return Wire.page(page, request: request, base: baseURL(request)) { $0.json }
        }
        router.get("/api/v2/calls/{id}") { [self] request in
            Wire.single(try calls.get(as: principal(request), id: pathID(request)).json)
        }
        router.post("/api/v2/calls") { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            let input = try Self.callInput(request)
            return Wire.single(try calls.create(as: principal, input).json, status: 201)
        }
        let update: Router.Handler = { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            let id = try pathID(request)
            var body = try RequestBody(request)
            var patch = CallPatch()
            patch.begin = body.int("begin")
            patch.duration = body.int("duration")
            patch.description = body.nullableString("description")
            patch.extid = body.nullableString("extid")
            if let value = body.value("extendable") {
                patch.extendable = value.isNull ? .some(nil) : body.bool("extendable")
            }
            try body.check()
            return Wire.single(try calls.update(as: principal, id: id, patch).json)
        }
        router.put("/api/v2/calls/{id}", update)
        router.patch("/api/v2/calls/{id}", update)
        router.delete("/api/v2/calls/{id}") { [self] request in
            try calls.delete(as: principal(request), id: pathID(request))
            return .noContent
        }

        router.get("/api/v2/calllogs") { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            var filters = QueryFilters(request)
            let callID = filters.int("call_id")
            let userID = filters.int("user_id")
            let from = filters.int("from")
            let to = filters.int("to")
            try filters.check()
            let page = try callLogs.list(
                as: principal, callID: callID, userID: userID, from: from, to: to, page: pageRequest(request))
            return Wire.page(page, request: request, base: baseURL(request)) { $0.json }
        }

        router.post("/api/ext/createScopedToken") { [self] request in
            let principal = try principal(request)
            try Policy.require(principal, .createScopedToken)
            var body = try RequestBody(request)
            let email = body.requiredString("email")
            let scopeType = body.requiredString("scope_type")
            let scopeID = body.require("scope_id") ? body.int("scope_id") : nil
            try body.check()
            let (token, validUntil) = try callAccess.createOneTimePassword(
                as: principal, email: email!, scopeType: scopeType!, callID: scopeID!)
            return .json(["token": .string(token), "valid_until": .int(validUntil)])
        }
    }

    /// Decodes `POST /api/v2/calls`; type errors are a 422 naming each field.
    static func callInput(_ request: Request) throws -> CallInput {
        var body = try RequestBody(request)
        var input = CallInput()
        input.duration = body.int("duration")
        input.callType = body.string("call_type")
        input.tanUsername = body.nullableString("tan_username") ?? nil
        input.tanEmail = body.nullableString("tan_email") ?? nil
        input.tanMobile = body.nullableString("tan_mobile") ?? nil
        input.tanDataAgreed = body.bool("tan_data_agreed")
        input.begin = body.nullableInt("begin") ?? nil
        input.description = body.nullableString("description") ?? nil
        input.extid = body.nullableString("extid") ?? nil
        input.extendable = body.value("extendable")?.isNull == true ? nil : body.bool("extendable")
        for (index, reader) in body.objectList("additional_callees") ?? [] {
            var entry = reader
            let callee = CalleeInput(
                userID: entry.nullableInt("user_id") ?? nil, name: entry.nullableString("name") ?? nil,
                email: entry.nullableString("email") ?? nil, mobile: entry.nullableString("mobile") ?? nil)
            body.adopt(entry, prefix: "additional_callees.\(index)")
            input.additionalCallees.append(callee)
        }
        try body.check()
        return input
    }
}

/// Whole-number query arguments with one 422 for every bad one.
struct QueryFilters {
    let request: Request
    var errors = ValidationErrors()

    init(_ request: Request) { self.request = request }

    mutating func int(_ name: String) -> Int64? {
        guard let text = request.query(name), !text.isEmpty else { return nil }
        guard let value = Int64(text) else {
            errors.add(name, "\(name) must be a whole number.")
            return nil
        }
        return value
    }

    func check() throws { try errors.check() }
}
