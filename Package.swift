// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sprechstunde",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sprechstunde", targets: ["sprechstunde"])
    ],
    targets: [
        // System libraries from Debian, one shim header each (variadic C calls need inline wrappers).
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CGnuTLS", pkgConfig: "gnutls", providers: [.apt(["libgnutls28-dev"])]),
        .systemLibrary(name: "CWslay", providers: [.apt(["libwslay-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Generic network core: no knowledge of the domain.
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "CGnuTLS", "CWslay"]),
        // The domain: accounts, companies, policies, services and store protocols. No HTTP, no SQL.
        .target(name: "Sprechstunde", dependencies: ["CSodium", "CGnuTLS"]),
        // SQLite implementation of the store protocols, with migrations.
        .target(name: "SprechstundeSQLite", dependencies: ["Sprechstunde", "CSQLite"]),
        // API routes, configuration and wiring.
        .target(
            name: "SprechstundeServer",
            dependencies: ["HTTPServer", "Sprechstunde", "SprechstundeSQLite", "CCurl"],
            resources: [.copy("Resources/openapi.json"), .copy("Resources/web")]
        ),
        // The thin executable.
        .executableTarget(name: "sprechstunde", dependencies: ["SprechstundeServer"]),

        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        .testTarget(name: "SprechstundeTests", dependencies: ["Sprechstunde", "SprechstundeSQLite"]),
        .testTarget(name: "SprechstundeSQLiteTests", dependencies: ["SprechstundeSQLite"]),
        .testTarget(name: "SprechstundeServerTests", dependencies: ["SprechstundeServer"]),
    ]
)
