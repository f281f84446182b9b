import Foundation
import HTTPServer
import Sprechstunde
import SprechstundeSQLite
import Testing

@testable import SprechstundeServer

/// In-process tests of the API edge: routing, decoding, error mapping and the wire format,
/// against a real SQLite file.
struct ApplicationTests {
    let application: Application
    let adminToken: String
    let companyID: Int64

    init() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("app-\(UUID().uuidString).sqlite").path
        let store = try SQLiteStore(path: path)
        var settings = Application.Settings()
        settings.auth.passwordCost = .minimal
        application = Application(store: store, settings: settings, log: .discard)
        let provisioning = Provisioning(store: store, passwordCost: .minimal)
        companyID = try provisioning.createCompany(name: "Praxis A").id
        _ = try provisioning.createUser(
            name: "Ada Admin", email: "ada@a.example", password: "secret-password", role: .admin, companyID: companyID)
        adminToken = try application.auth.signIn(email: "ada@a.example", password: "secret-password", from: "127.0.0.1")
            .value
    }

    func send(
        _ method: String, _ path: String, json: String? = nil, token: String? = nil, query: [(String, String)] = [],
        host: String = "localhost:8443"
    )
        -> (status: Int, body: JSON?, response: Response)
    {
        var headers = ["content-type": "application/json", "host": host]
        if let token { headers["authorization"] = "Bearer \(token)" }
        let request = Request(
            method: method, path: path, queryItems: query, headers: headers, body: Array((json ?? "").utf8))
        let response = application.handle(request)
        return (response.status, try? JSON.parse(response.body), response)
    }

    @Test func unknownRouteIsJSON404() {
        let result = send("GET", "/api/v2/nothing")
        #expect(result.status == 404)
        #expect(result.body?["message"] != nil)
        #expect(result.response.header("Content-Type") == "application/json")
    }

    @Test func wrongMethodIs405WithAllow() {
        let result = send("DELETE", "/api/v2/auth")
        #expect(result.status == 405)
        #expect(result.response.header("Allow") == "POST")
    }

    @Test func malformedJSONIs400() {
        let result = send("POST", "/api/v2/auth", json: "{\"email\": ")
        #expect(result.status == 400)
        #expect(result.body?["message"]?.description.contains("not valid JSON") == true)
    }

    @Test func nonObjectBodyIs422() {
        #expect(send("POST", "/api/v2/auth", json: "[1,2]").status == 422)
    }

    @Test func otherContentTypeIs415() {
        let request = Request(
            method: "POST", path: "/api/v2/auth", headers: ["content-type": "text/plain"], body: Array("x".utf8))
        #expect(application.handle(request).status == 415)
    }

    @Test func missingFieldsAreListedTogether() {
        let result = send("POST", "/api/v2/auth", json: "{}")
        #expect(result.status == 422)
        #expect(result.body?["errors"]?["email"] != nil)
        #expect(result.body?["errors"]?["password"] != nil)
    }

    @Test func getWithEmptyObjectBodyIsAccepted() {
        let result = send("GET", "/api/v2/companies", json: "{}", token: adminToken)
        #expect(result.status == 200)
        #expect(result.body?["meta"]?["total"] == .int(1))
    }

    @Test func missingTokenIs401WithChallenge() {
        let result = send("GET", "/api/v2/users")
        #expect(result.status == 401)
        #expect(result.response.header("WWW-Authenticate") == "Bearer")
    }

    @Test func typeErrorsAre422PerField() {
        let result = send(
            "POST", "/api/v2/users",
            json: #"{"name": 5, "email": "x@y.example", "password": "12345678", "roles": "doc"}"#, token: adminToken)
        #expect(result.status == 422)
        #expect(result.body?["errors"]?["name"] != nil)
        #expect(result.body?["errors"]?["roles"] != nil)
    }

    @Test func nestedNotificationErrorsNameTheEntry() {
        let body = """
            {"name": "Doc Tor", "email": "doc@a.example", "password": "12345678", "roles": [2],
             "notification_options": [{"notification_id": 1001, "enabled": true}, {"notification_id": "x"}]}
            """
        let result = send("POST", "/api/v2/users", json: body, token: adminToken)
        #expect(result.status == 422)
        #expect(result.body?["errors"]?["notification_options.1.notification_id"] != nil)
    }

    @Test func paginationLinksKeepOtherArguments() throws {
        for index in 0..<3 {
            let body =
                #"{"name": "Doc \#(index)", "email": "doc\#(index)@a.example", "password": "12345678", "roles": [2]}"#
            #expect(send("POST", "/api/v2/users", json: body, token: adminToken).status == 201)
        }
        let result = send("GET", "/api/v2/users", token: adminToken, query: [("per_page", "2"), ("role", "doc")])
        #expect(result.body?["meta"]?["total"] == .int(3))
        #expect(result.body?["meta"]?["last_page"] == .int(2))
        #expect(
            result.body?["links"]?["next"] == .string("https://localhost:8443/api/v2/users?per_page=2&role=doc&page=2"))
        #expect(result.body?["links"]?["prev"] == .null)
    }

    @Test func aForgedHostDoesNotRedirectLinks() {
        let forged = send("GET", "/api/v2/users", token: adminToken, host: "evil.example")
        #expect(forged.body?["links"]?["first"] == .string("https://localhost/api/v2/users?page=1"))
        let loopback = send("GET", "/api/v2/users", token: adminToken, host: "[::1]:9443")
        #expect(loopback.body?["links"]?["first"] == .string("https://[::1]:9443/api/v2/users?page=1"))
    }

    @Test func signalingOriginMustBeThisServer() {
        func allowed(_ origin: String, host: String? = "video.example:8443", tls: Bool = true, publicURL: String? = nil)
            -> Bool
        {
            Application.isOwnOrigin(origin, host: host, tls: tls, publicURL: publicURL)
        }
        #expect(allowed("https://video.example:8443"))
        #expect(allowed("HTTPS://VIDEO.EXAMPLE:8443"))
        #expect(allowed("https://video.example:8443/"))
        #expect(allowed("https://video.example", host: "video.example:443"))
        #expect(allowed("https://[::1]:9443", host: "[::1]:9443"))
        // A plain server may sit behind a TLS proxy that passes Host.
        #expect(allowed("https://video.example", host: "video.example", tls: false))
        #expect(allowed("http://127.0.0.1:8080", host: "127.0.0.1:8080", tls: false))
        // --public-url, whatever Host the proxy sends.
        #expect(
            allowed(
                "https://video.example.org", host: "127.0.0.1:8080", tls: false, publicURL: "https://video.example.org")
        )
        for foreign in [
            "https://evil.example", "null", "", "https://video.example", "http://video.example:8443",
            "chrome-extension://video.example:8443", "video.example:8443", "https://video.example:8443.evil.example",
            "https://user@video.example:8443", "https://evil.example/https://video.example:8443",
        ] {
            #expect(!allowed(foreign), "\(foreign)")
        }
        #expect(!allowed("https://127.0.0.1:80", host: "127.0.0.1"))
        #expect(!allowed("http://video.example.org", host: nil, tls: false, publicURL: "https://video.example.org"))
        #expect(!allowed("https://video.example:8443", host: nil))
    }

    @Test func idsHaveOneSpelling() {
        for path in ["/api/v2/users/01", "/api/v2/users/+1", "/api/v2/users/1%00abc"] {
            #expect(send("GET", path, token: adminToken).status == 404, "\(path)")
        }
        #expect(send("GET", "/api/v2/users/1", token: adminToken).status == 200)
    }

    @Test func controlCharactersInNamesAndAddressesAre422() {
        let body = #"{"name": "\u0000nul", "email": "nul\u0000@a.example", "password": "12345678", "roles": [2]}"#
        let result = send("POST", "/api/v2/users", json: body, token: adminToken)
        #expect(result.status == 422)
        #expect(result.body?["errors"]?["name"] != nil)
        #expect(result.body?["errors"]?["email"] != nil)
    }

    @Test func perPageOutOfRangeIs422() {
        #expect(send("GET", "/api/v2/users", token: adminToken, query: [("per_page", "10001")]).status == 422)
        #expect(send("GET", "/api/v2/users", token: adminToken, query: [("per_page", "10000")]).status == 200)
    }

    @Test func nonNumericIdIs404() {
        #expect(send("GET", "/api/v2/users/abc", token: adminToken).status == 404)
    }

    @Test func responsesCarryNoStoreAndNosniff() {
        let result = send("GET", "/healthz")
        #expect(result.response.header("Cache-Control") == "no-store")
        #expect(result.response.header("X-Content-Type-Options") == "nosniff")
    }

    @Test(arguments: [
        (DomainError.Kind.unauthenticated, 401), (.forbidden, 403), (.notFound, 404), (.conflict, 409),
        (.validation, 422), (.throttled, 429), (.unavailable, 503),
    ])
    func domainErrorsMapToStatuses(kind: DomainError.Kind, status: Int) {
        #expect(Application.httpError(for: DomainError(kind, "x", retryAfter: 5)).status.rawValue == status)
    }

    @Test func throttledCarriesRetryAfter() {
        let error = Application.httpError(for: DomainError(.throttled, "slow down", retryAfter: 42))
        #expect(error.response.header("Retry-After") == "42")
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { String(decoding: serialized(), as: UTF8.self) }
}
