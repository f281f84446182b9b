import Testing

@testable import HTTPServer

/// A handler that echoes what the router filled in, so tests can see which route ran.
private func echo(_ name: String) -> Router.Handler {
    { request in
        let parameters = request.pathParameters.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }
        return Response.json([
            "route": .string(name), "method": .string(request.method), "template": .string(request.routeTemplate),
            "parameters": .object(parameters),
        ])
    }
}

private func body(_ response: Response) throws -> JSON {
    try JSON.parse(response.body)
}

private func request(_ method: String, _ path: String) -> Request {
    Request(method: method, path: path)
}

private func makeRouter() -> Router {
    var router = Router()
    router.get("/api/v2/users", echo("listUsers"))
    router.post("/api/v2/users", echo("createUser"))
    router.get("/api/v2/users/{id}", echo("getUser"))
    router.put("/api/v2/users/{id}", echo("putUser"))
    router.patch("/api/v2/users/{id}", echo("patchUser"))
    router.delete("/api/v2/users/{id}", echo("deleteUser"))
    router.post("/api/v2/auth", echo("auth"))
    router.post("/api/v2/auth/logout", echo("logout"))
    router.get("/api/v2/companies/{company}/users/{user}", echo("companyUser"))
    router.get("/", echo("root"))
    return router
}

@Suite("Router")
struct RouterTests {
    let router = makeRouter()

    @Test("a literal route is found")
    func literal() throws {
        let response = try router.handle(request("GET", "/api/v2/users"))
        #expect(response.status == 200)
        let json = try body(response)
        #expect(json["route"] == "listUsers")
        #expect(json["template"] == "/api/v2/users")
        #expect(json["parameters"] == .object([]))
    }

    @Test("the method picks among routes on one path")
    func methodSelects() throws {
        #expect(try body(router.handle(request("POST", "/api/v2/users")))["route"] == "createUser")
        #expect(try body(router.handle(request("PUT", "/api/v2/users/3")))["route"] == "putUser")
        #expect(try body(router.handle(request("PATCH", "/api/v2/users/3")))["route"] == "patchUser")
        #expect(try body(router.handle(request("DELETE", "/api/v2/users/3")))["route"] == "deleteUser")
    }

    @Test("path parameters are bound by name")
    func parameters() throws {
        let json = try body(router.handle(request("GET", "/api/v2/users/42")))
        #expect(json["route"] == "getUser")
        #expect(json["parameters"] == ["id": "42"])
        #expect(json["template"] == "/api/v2/users/{id}")

        let two = try body(router.handle(request("GET", "/api/v2/companies/7/users/abc")))
        #expect(two["parameters"] == ["company": "7", "user": "abc"])
    }

    @Test("a parameter matches exactly one segment")
    func parameterIsOneSegment() {
        #expect(router.template(method: "GET", path: "/api/v2/users/1/2") == nil)
        // An empty segment is not a value: "/api/v2/users/" is the collection.
        #expect(router.template(method: "GET", path: "/api/v2/users/") == "/api/v2/users")
    }

    @Test("literal segments must match exactly, case included")
    func literalsExact() {
        #expect(router.template(method: "GET", path: "/api/v2/Users") == nil)
        #expect(router.template(method: "GET", path: "/api/v3/users") == nil)
        #expect(router.template(method: "POST", path: "/api/v2/auth/logout") == "/api/v2/auth/logout")
        #expect(router.template(method: "POST", path: "/api/v2/auth") == "/api/v2/auth")
    }

    @Test("the root path")
    func root() throws {
        #expect(try body(router.handle(request("GET", "/")))["route"] == "root")
    }

    @Test("an unknown path is 404")
    func notFound() {
        for path in ["/nope", "/api/v2", "/api/v2/users/1/roles", "/api/v2/companies/1/users"] {
            let error = #expect(throws: HTTPError.self) { try router.handle(request("GET", path)) }
            #expect(error?.status == .notFound, "\(path)")
            #expect(error?.headers.isEmpty == true)
        }
        if case .notFound = router.match(method: "GET", path: "/x") {} else { Issue.record("expected .notFound") }
    }

    @Test("an unknown path is 404 whatever the method")
    func notFoundAnyMethod() {
        let error = #expect(throws: HTTPError.self) { try router.handle(request("BREW", "/coffee")) }
        #expect(error?.status == .notFound)
    }

    @Test("a known path with another method is 405 with Allow")
    func methodNotAllowed() throws {
        let error = #expect(throws: HTTPError.self) { try router.handle(request("POST", "/api/v2/users/5")) }
        #expect(error?.status == .methodNotAllowed)
        let allow = error?.headers.first { $0.0 == "Allow" }?.1
        #expect(allow == "GET, PUT, PATCH, DELETE")
        // The Allow header travels into the response.
        let response = try #require(error).response
        #expect(response.status == 405)
        #expect(response.header("allow") == "GET, PUT, PATCH, DELETE")
        #expect(try body(response)["message"] != nil)

        let logout = #expect(throws: HTTPError.self) { try router.handle(request("GET", "/api/v2/auth/logout")) }
        #expect(logout?.status == .methodNotAllowed)
        #expect(logout?.headers.first { $0.0 == "Allow" }?.1 == "POST")

        guard case .methodNotAllowed(let allowed) = router.match(method: "DELETE", path: "/api/v2/users") else {
            Issue.record("expected .methodNotAllowed")
            return
        }
        #expect(allowed == ["GET", "POST"])
    }

    @Test("HEAD is answered by the GET handler")
    func head() throws {
        let json = try body(router.handle(request("HEAD", "/api/v2/users/9")))
        #expect(json["route"] == "getUser")
        #expect(json["method"] == "HEAD")
        #expect(json["parameters"] == ["id": "9"])
        #expect(router.template(method: "HEAD", path: "/api/v2/users") == "/api/v2/users")
    }

    @Test("HEAD on a path without GET is 405")
    func headWithoutGet() {
        let error = #expect(throws: HTTPError.self) { try router.handle(request("HEAD", "/api/v2/auth")) }
        #expect(error?.status == .methodNotAllowed)
        #expect(error?.headers.first { $0.0 == "Allow" }?.1 == "POST")
    }

    @Test("template lookup never returns the raw path")
    func template() {
        #expect(router.template(method: "GET", path: "/api/v2/users/123") == "/api/v2/users/{id}")
        #expect(router.template(method: "DELETE", path: "/api/v2/users/123") == "/api/v2/users/{id}")
        #expect(
            router.template(method: "GET", path: "/api/v2/companies/1/users/2")
                == "/api/v2/companies/{company}/users/{user}")
        // 405 and 404 have no template.
        #expect(router.template(method: "POST", path: "/api/v2/users/123") == nil)
        #expect(router.template(method: "GET", path: "/api/v2/secret/123") == nil)
    }

    @Test("errors thrown by handlers reach the caller unchanged")
    func handlerErrors() {
        struct Boom: Error {}
        var router = Router()
        router.get("/boom") { _ in throw Boom() }
        router.get("/teapot") { _ in throw HTTPError(.conflict, "busy") }
        #expect(throws: Boom.self) { try router.handle(request("GET", "/boom")) }
        let error = #expect(throws: HTTPError.self) { try router.handle(request("GET", "/teapot")) }
        #expect(error?.status == .conflict)
        #expect(error?.message == "busy")
    }

    @Test("a request whose body was over the limit is 413 before routing")
    func payloadTooLarge() {
        var oversized = request("POST", "/api/v2/users")
        oversized.bodyLimitExceeded = 1024
        let error = #expect(throws: HTTPError.self) { try router.handle(oversized) }
        #expect(error?.status == .payloadTooLarge)
        #expect(error?.message.contains("1024") == true)
        // Even on an unknown path.
        var unknown = request("POST", "/nowhere")
        unknown.bodyLimitExceeded = 1
        #expect((#expect(throws: HTTPError.self) { try router.handle(unknown) })?.status == .payloadTooLarge)
    }

    @Test("a header that must come once but came twice is 400, naming it")
    func repeatedHeader() {
        var twice = request("GET", "/api/v2/users")
        twice.repeatedHeaders = ["content-type"]
        let error = #expect(throws: HTTPError.self) { try router.handle(twice) }
        #expect(error?.status == .badRequest)
        #expect(error?.message.contains("Content-Type header more than once") == true)
    }

    @Test("routes are listed in the order added")
    func routeList() {
        #expect(router.routes.count == 10)
        #expect(router.routes.first?.method == "GET")
        #expect(router.routes.first?.pattern == "/api/v2/users")
        #expect(router.routes.last?.pattern == "/")
    }

    @Test("registering the same method and pattern twice is a programming error")
    func duplicateRoute() async {
        await #expect(processExitsWith: .failure) {
            var router = Router()
            router.get("/a/{id}") { _ in .noContent }
            router.get("/a/{id}") { _ in .noContent }
        }
    }

    @Test("a route differing only in a parameter name is a duplicate too (it could never match)")
    func duplicateRouteShape() async {
        await #expect(processExitsWith: .failure) {
            var router = Router()
            router.get("/a/{id}") { _ in .noContent }
            router.get("/a/{other}") { _ in .noContent }
        }
    }

    @Test("the same pattern with another method, or another shape, is fine")
    func notDuplicates() {
        var router = Router()
        router.get("/a/{id}") { _ in .noContent }
        router.delete("/a/{id}") { _ in .noContent }
        router.get("/a/{id}/b") { _ in .noContent }
        router.get("/a/b") { _ in .noContent }
        #expect(router.routes.count == 4)
    }
}

@Suite("HTTPError")
struct HTTPErrorTests {
    @Test("a plain error is {\"message\"} with the status and JSON content type")
    func plain() throws {
        let response = HTTPError(.notFound, "User 5 not found.").response
        #expect(response.status == 404)
        #expect(response.header("Content-Type") == "application/json")
        let json = try JSON.parse(response.body)
        #expect(json == ["message": "User 5 not found."])
    }

    @Test("validation errors add {\"errors\": {field: [messages]}} in the order found")
    func validation() throws {
        let error = HTTPError(
            .unprocessableEntity, "email is invalid (and 1 more problems)",
            fieldErrors: [("email", ["email must be a valid e-mail address."]), ("roles", ["a", "b"])])
        let response = error.response
        #expect(response.status == 422)
        #expect(
            String(decoding: response.body, as: UTF8.self)
                == #"{"message":"email is invalid (and 1 more problems)","errors":{"email":["email must be a valid e-mail address."],"roles":["a","b"]}}"#
        )
    }

    @Test("extra headers are added to the response")
    func headers() throws {
        let response = HTTPError(.tooManyRequests, "Slow down.", headers: [("Retry-After", "30")]).response
        #expect(response.status == 429)
        #expect(response.header("retry-after") == "30")
        #expect(response.header("content-type") == "application/json")
        #expect(try JSON.parse(response.body)["errors"] == nil)
    }

    @Test("messages with quotes and non-ASCII survive")
    func escaping() throws {
        let message = "Der Wert \"x\" ist ungültig.\n"
        let response = HTTPError(.badRequest, message).response
        #expect(try JSON.parse(response.body)["message"] == .string(message))
    }

    @Test("every status maps to its code")
    func statusCodes() {
        let expected: [(HTTPError.Status, Int)] = [
            (.badRequest, 400), (.unauthorized, 401), (.forbidden, 403), (.notFound, 404), (.methodNotAllowed, 405),
            (.conflict, 409), (.payloadTooLarge, 413), (.unsupportedMediaType, 415), (.unprocessableEntity, 422),
            (.tooManyRequests, 429), (.internalServerError, 500), (.serviceUnavailable, 503),
        ]
        for (status, code) in expected {
            #expect(HTTPError(status, "x").response.status == code)
        }
    }
}

@Suite("Request")
struct RequestTests {
    @Test("bearer token")
    func bearer() {
        func token(_ header: String?) -> String? {
            Request(method: "GET", path: "/", headers: header.map { ["authorization": $0] } ?? [:]).bearerToken
        }
        #expect(token("Bearer abc123") == "abc123")
        #expect(token("bearer   abc123  ") == "abc123")
        #expect(token("BEARER abc") == "abc")
        #expect(token("Basic dXNlcjpwdw==") == nil)
        #expect(token("Bearer") == nil)
        #expect(token("Bearer   ") == nil)
        #expect(token(nil) == nil)
    }

    @Test("query arguments: the last value wins")
    func query() {
        let request = Request(method: "GET", path: "/", queryItems: [("page", "1"), ("per_page", "5"), ("page", "3")])
        #expect(request.query("page") == "3")
        #expect(request.query("per_page") == "5")
        #expect(request.query("search") == nil)
    }

    @Test("JSON body: empty is nil, malformed is 400")
    func jsonBody() throws {
        #expect(try Request(method: "GET", path: "/", body: []).jsonBody() == nil)
        #expect(try Request(method: "GET", path: "/", body: Array(" \r\n\t".utf8)).jsonBody() == nil)
        #expect(try Request(method: "GET", path: "/", body: Array("{}".utf8)).jsonBody() == .object([]))
        let error = #expect(throws: HTTPError.self) {
            try Request(method: "POST", path: "/", body: Array("{\"a\":".utf8)).jsonBody()
        }
        #expect(error?.status == .badRequest)
    }
}
