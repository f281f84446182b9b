import Foundation
import HTTPServer

/// The browser client's files, read once at start from the bundle: the set is fixed at build
/// time, so a request can only ever name one of them.
public struct WebAssets: Sendable {
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
    }

    let files: [String: Asset]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "json": "application/json",
    ]

    static let bundled: WebAssets = {
        guard let directory = Bundle.module.url(forResource: "web", withExtension: nil) else {
            return WebAssets(files: [:])
        }
        return load(directory: directory)
    }()

    static func load(directory: URL) -> WebAssets {
        var files: [String: Asset] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names {
            let suffix = (name as NSString).pathExtension.lowercased()
            guard let contentType = contentTypes[suffix],
                let data = try? Data(contentsOf: directory.appendingPathComponent(name))
            else { continue }
            files[name] = Asset(bytes: Array(data), contentType: contentType)
        }
        return WebAssets(files: files)
    }

    func response(_ name: String, headers: [(String, String)] = []) -> Response? {
        guard let asset = files[name] else { return nil }
        return Response(status: 200, headers: [("Content-Type", asset.contentType)] + headers, body: asset.bytes)
    }
}
