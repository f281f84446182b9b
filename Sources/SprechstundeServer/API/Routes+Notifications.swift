import HTTPServer
import Sprechstunde

/// The outbox as admins see it: what was sent, what waits and what failed, and why.
extension Application {
    func registerNotificationRoutes(_ router: inout Router) {
        router.get("/api/v2/notifications") { [self] request in
            let principal = try principal(request)
            var filters = QueryFilters(request)
            let callID = filters.int("call_id")
            var status: OutboxMessage.Status?
            if let value = request.query("status"), !value.isEmpty {
                status = OutboxMessage.Status(rawValue: value)
                if status == nil { filters.errors.add("status", "status must be pending, sent or failed.") }
            }
            try filters.check()
            let page = try delivery.list(as: principal, status: status, callID: callID, page: pageRequest(request))
            return Wire.page(page, request: request, base: baseURL(request)) { $0.json() }
        }
        router.get("/api/v2/notifications/{id}") { [self] request in
            Wire.single(try delivery.notification(pathID(request), as: principal(request)).json(withContent: true))
        }
        router.post("/api/v2/notifications/{id}/retry") { [self] request in
            let retried = try delivery.retry(pathID(request), as: principal(request))
            return Wire.single(retried.json(withContent: true))
        }
    }
}
