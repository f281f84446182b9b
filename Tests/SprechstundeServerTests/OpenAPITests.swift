import Foundation
import HTTPServer
import Sprechstunde
import SprechstundeSQLite
import Testing

@testable import SprechstundeServer

/// The OpenAPI document (Resources/openapi.json, also docs/openapi.json) must describe exactly
/// the routes the server registers: a new route without documentation, or documentation of a
/// route that no longer exists, fails here.
@Suite struct OpenAPITests {
    /// The operation keys of an OpenAPI path item; other members (parameters, summary, ...) are not operations.
    static let operationKeys: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// An application on a fresh SQLite file, removed again after `body`.
    func withApplication(_ body: (Application) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sprechstunde-openapi-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("test.sqlite").path)
        var settings = Application.Settings()
        settings.auth.passwordCost = .minimal
        let app = Application(store: store, settings: settings, log: .discard)
        try body(app)
    }

    /// The document as the server serves it.
    func servedDocument(_ app: Application) throws -> JSON {
        let response = app.handle(Request(method: "GET", path: "/api/v2/openapi.json"))
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
        return try JSON.parse(response.body)
    }

    /// "method path" for every documented operation, e.g. "get /api/v2/users/{id}".
    func documentedOperations(_ document: JSON) throws -> Set<String> {
        guard case .object(let paths)? = document["paths"] else {
            Issue.record("the document has no paths object")
            return []
        }
        var operations = Set<String>()
        for (path, item) in paths {
            guard case .object(let members) = item else {
                Issue.record("path item \(path) is not an object")
                continue
            }
            for (key, _) in members where Self.operationKeys.contains(key) {
                operations.insert("\(key) \(path)")
            }
        }
        return operations
    }

    func registeredOperations(_ app: Application) -> Set<String> {
        Set(app.router.routes.map { "\($0.method.lowercased()) \($0.pattern)" })
    }

    @Test func documentIsOpenAPI31() throws {
        try withApplication { app in
            let document = try servedDocument(app)
            guard case .string(let version)? = document["openapi"] else {
                Issue.record("openapi is missing or not a string")
                return
            }
            #expect(version.hasPrefix("3.1."), "openapi is \(version), expected 3.1.x")
            #expect(document["info"]?["title"] != nil)
            #expect(document["info"]?["version"] != nil)
        }
    }

    @Test func everyRouteIsDocumented() throws {
        try withApplication { app in
            let documented = try documentedOperations(servedDocument(app))
            let routes = registeredOperations(app)
            #expect(!routes.isEmpty)
            let missing = routes.subtracting(documented).sorted()
            #expect(missing.isEmpty, "routes missing from openapi.json: \(missing.joined(separator: ", "))")
        }
    }

    @Test func everyDocumentedOperationIsARoute() throws {
        try withApplication { app in
            let documented = try documentedOperations(servedDocument(app))
            let extra = documented.subtracting(registeredOperations(app)).sorted()
            #expect(
                extra.isEmpty,
                "openapi.json documents operations the server does not have: \(extra.joined(separator: ", "))")
        }
    }

    /// Each `{name}` of a documented path is declared as a path parameter of each of its operations.
    @Test func pathParametersAreDeclared() throws {
        try withApplication { app in
            let document = try servedDocument(app)
            guard case .object(let paths)? = document["paths"] else { return }
            for (path, item) in paths {
                let names = path.split(separator: "/").filter { $0.hasPrefix("{") && $0.hasSuffix("}") }
                    .map { String($0.dropFirst().dropLast()) }
                guard !names.isEmpty, case .object(let members) = item else { continue }
                let shared = declaredPathParameters(item["parameters"], in: document)
                for (key, operation) in members where Self.operationKeys.contains(key) {
                    let declared = shared.union(declaredPathParameters(operation["parameters"], in: document))
                    for name in names {
                        #expect(declared.contains(name), "\(key) \(path) does not declare path parameter \(name)")
                    }
                }
            }
        }
    }

    /// Names of `in: path` parameters in a parameter list, following local `$ref`s.
    func declaredPathParameters(_ list: JSON?, in document: JSON) -> Set<String> {
        guard case .array(let parameters)? = list else { return [] }
        var names = Set<String>()
        for var parameter in parameters {
            if case .string(let reference)? = parameter["$ref"], reference.hasPrefix("#/") {
                var target: JSON? = document
                for part in reference.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
                guard let resolved = target else {
                    Issue.record("unresolved $ref \(reference)")
                    continue
                }
                parameter = resolved
            }
            if parameter["in"] == .string("path"), case .string(let name)? = parameter["name"] { names.insert(name) }
        }
        return names
    }
}
