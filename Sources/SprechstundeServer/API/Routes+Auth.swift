import HTTPServer
import Sprechstunde

extension Application {
    func registerHealthRoutes(_ router: inout Router) {
        router.get("/healthz") { _ in .json(["status": "ok"]) }
        router.get("/readyz") { [store] _ in
            do {
                try store.checkHealth()
                return .json(["status": "ready"])
            } catch {
                return HTTPError(.serviceUnavailable, "The database is not usable.").response
            }
        }
    }

    func registerAuthRoutes(_ router: inout Router) {
        router.post("/api/v2/auth") { [self] request in
            var body = try RequestBody(request)
            let email = body.requiredString("email")
            let password = body.requiredString("password")
            try body.check()
            let token = try auth.signIn(email: email!, password: password!, from: clientAddress(request))
            return .json([
                "access_token": .string(token.value), "token_type": "bearer", "expires_in": .int(token.expiresIn),
            ])
        }

        router.post("/api/v2/auth/logout") { [self] request in
            _ = try principal(request)
            try auth.signOut(token: request.bearerToken!)
            return .noContent
        }

        router.post("/api/v2/client") { [self] request in
            var body = try RequestBody(request)
            let clientID = body.requiredString("client_id")
            let secret = body.requiredString("pw")
            try body.check()
            let token = try auth.clientSignIn(clientID: clientID!, secret: secret!, from: clientAddress(request))
            return .json([
                "access_token": .string(token.value), "token": .string(token.value), "token_type": "bearer",
                "expires_in": .int(token.expiresIn), "valid_until": .int(token.validUntil),
            ])
        }

        router.get("/api/v2/roles") { [self] request in
            let principal = try principal(request)
            try Policy.require(principal, .readUsers)
            let roles = Role.allCases
            let page = try pageRequest(request)
            let slice = Array(roles.dropFirst(page.offset).prefix(page.perPage))
            return Wire.page(
                Page(items: slice, total: roles.count, request: page), request: request, base: baseURL(request)
            ) {
                ["id": .int($0.rawValue), "name": .string($0.name), "description": .string($0.summary)]
            }
        }
    }
}
