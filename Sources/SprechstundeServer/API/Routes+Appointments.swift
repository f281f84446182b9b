import HTTPServer
import Sprechstunde

/// Consultation hours, free time slots and appointments (reserved slots, which are calls).
extension Application {
    func registerAppointmentRoutes(_ router: inout Router) {
        router.get("/api/v2/appointmentsettings") { [self] request in
            Wire.single(try appointments.settings(as: principal(request)).json)
        }
        let updateSettings: Router.Handler = { [self] request in
            let principal = try principal(request)
            var body = try RequestBody(request)
            let timeZone = body.string("time_zone")
            var create = body.int("lead_time_create")
            var cancel = body.int("lead_time_cancel")
            // Also in the call's own shape: {"timings": {"lead_time_create": ..., ...}}.
            if var nested = body.object("timings") {
                create = nested.int("lead_time_create") ?? create
                cancel = nested.int("lead_time_cancel") ?? cancel
                body.adopt(nested, prefix: "timings")
            }
            try body.check()
            let settings = try appointments.updateSettings(
                as: principal, timeZone: timeZone, leadTimeCreate: create, leadTimeCancel: cancel)
            return Wire.single(settings.json)
        }
        router.put("/api/v2/appointmentsettings", updateSettings)
        router.patch("/api/v2/appointmentsettings", updateSettings)

        router.get("/api/v2/availabilities") { [self] request in
            let principal = try principal(request)
            var filters = QueryFilters(request)
            let userID = filters.int("user_id")
            try filters.check()
            let page = try appointments.availabilities(as: principal, userID: userID, page: pageRequest(request))
            return Wire.page(page, request: request, base: baseURL(request)) { $0.json }
        }
        router.get("/api/v2/availabilities/{id}") { [self] request in
            Wire.single(try appointments.availability(as: principal(request), id: pathID(request)).json)
        }
        router.post("/api/v2/availabilities") { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            let input = try Self.availabilityInput(request)
            return Wire.single(try appointments.createAvailability(as: principal, input).json, status: 201)
        }
        let updateAvailability: Router.Handler = { [self] request in
            let principal = try principal(request)
            let id = try pathID(request)
            _ = try appointments.availability(as: principal, id: id)
            let input = try Self.availabilityInput(request)
            return Wire.single(try appointments.updateAvailability(as: principal, id: id, input).json)
        }
        router.put("/api/v2/availabilities/{id}", updateAvailability)
        router.patch("/api/v2/availabilities/{id}", updateAvailability)
        router.delete("/api/v2/availabilities/{id}") { [self] request in
            try appointments.deleteAvailability(as: principal(request), id: pathID(request))
            return .noContent
        }

        router.get("/api/v2/timeslots") { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            var filters = QueryFilters(request)
            let userID = filters.int("user_id")
            let from = filters.int("from")
            let to = filters.int("to")
            if userID == nil && !filters.errors.has("user_id") {
                filters.errors.add("user_id", "user_id is required: the doctor whose free slots to list.")
            }
            try filters.check()
            let (slots, zone, nextFrom) = try appointments.freeSlots(
                as: principal, doctorID: userID!, from: from, to: to)
            return .json([
                "data": .array(slots.map { $0.json(zone) }),
                // next_from: more slots follow; ask again with from=next_from.
                "meta": [
                    "time_zone": .string(zone.zone.identifier), "total": .int(Int64(slots.count)),
                    "next_from": .int(nextFrom),
                ],
            ])
        }

        router.post("/api/v2/appointments") { [self] request in
            let principal = try principal(request)
            try calls.authorize(principal)
            var body = try RequestBody(request)
            var input = AppointmentInput()
            input.userID = body.int("user_id")
            input.begin = body.int("begin")
            input.tanUsername = body.nullableString("tan_username") ?? nil
            input.tanEmail = body.nullableString("tan_email") ?? nil
            input.tanMobile = body.nullableString("tan_mobile") ?? nil
            input.tanDataAgreed = body.bool("tan_data_agreed")
            input.description = body.nullableString("description") ?? nil
            input.extid = body.nullableString("extid") ?? nil
            input.extendable = body.value("extendable")?.isNull == true ? nil : body.bool("extendable")
            try body.check()
            return Wire.single(try appointments.reserve(as: principal, input).json, status: 201)
        }
        router.get("/api/v2/appointments/{id}") { [self] request in
            Wire.single(try appointments.get(as: principal(request), id: pathID(request)).json)
        }
        let reschedule: Router.Handler = { [self] request in
            let principal = try principal(request)
            let id = try pathID(request)
            _ = try appointments.get(as: principal, id: id)
            var body = try RequestBody(request)
            let begin = body.require("begin") ? body.int("begin") : nil
            try body.check()
            return Wire.single(try appointments.reschedule(as: principal, id: id, begin: begin!).json)
        }
        router.put("/api/v2/appointments/{id}", reschedule)
        router.patch("/api/v2/appointments/{id}", reschedule)
        router.delete("/api/v2/appointments/{id}") { [self] request in
            try appointments.cancel(as: principal(request), id: pathID(request))
            return .noContent
        }
    }

    /// Decodes an availability entry; `null` clears `weekday`, `date`, `slot_length` and the validity dates.
    static func availabilityInput(_ request: Request) throws -> AvailabilityInput {
        var body = try RequestBody(request)
        var input = AvailabilityInput()
        input.userID = body.int("user_id")
        input.kind = body.string("kind")
        input.weekday = body.nullableInt("weekday")
        input.date = body.nullableString("date")
        input.start = body.string("start")
        input.end = body.string("end")
        input.slotLength = body.nullableInt("slot_length")
        input.validFrom = body.nullableString("valid_from")
        input.validUntil = body.nullableString("valid_until")
        try body.check()
        return input
    }
}
