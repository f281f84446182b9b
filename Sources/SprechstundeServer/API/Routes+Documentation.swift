import Foundation
import HTTPServer

extension Application {
    /// The OpenAPI description shipped with the server (also in docs/openapi.json).
    static let openAPIDocument: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else { return Array(#"{"openapi":"3.1.0"}"#.utf8) }
        return Array(data)
    }()

    func registerDocumentationRoutes(_ router: inout Router) {
        router.get("/api/v2/openapi.json") { _ in
            Response(status: 200, headers: [("Content-Type", "application/json")], body: Application.openAPIDocument)
        }
    }
}
