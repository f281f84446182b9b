import Foundation
import HTTPServer
import Sprechstunde

/// Everything `serve` and `demo` need: defaults in code, then environment, then flags;
/// validated before anything starts, with messages that say what to fix.
public struct ServerConfiguration: Sendable {
    public var host = "0.0.0.0"
    public var port: UInt16 = 8443
    public var dataDirectory = "./data"
    public var databasePath: String?
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var plainHTTP = false
    public var threads = 4
    public var publicURL: String?
    public var tokenLifetime: Int64 = 86_400
    public var trustForwardedFor = false
    public var maximumBodyBytes = 1 << 20
    public var connectionTimeout = 30
    /// nil: `defaultConnectionsPerAddress`, or no limit behind a proxy (`trustForwardedFor`),
    /// where every connection comes from the proxy's address.
    public var maximumConnectionsPerAddress: Int?
    public static let defaultConnectionsPerAddress = 512
    public var accessLog = true
    public var tanValidityDays = 30
    public var endGraceSeconds = 30
    public var retentionDays = RetentionService.defaultRetentionDays
    public var ice = IceConfiguration()
    public var frameAncestors = "*"
    public var privacyURL: String?
    public var overtimeGraceSeconds = 600
    /// Serve the browser client from this directory instead of the built-in copy.
    public var webDirectory: String?
    public var delivery = DeliveryConfiguration()

    public init() {}

    /// The SQLite file: `--database`, or `sprechstunde.sqlite` in the data directory.
    public var resolvedDatabasePath: String {
        databasePath ?? (dataDirectory as NSString).appendingPathComponent("sprechstunde.sqlite")
    }

    static let specs: [OptionSpec] =
        [
            OptionSpec("host", "ADDRESS", help: "address to listen on (default 0.0.0.0)"),
            OptionSpec("port", "PORT", help: "TCP port; 0 picks a free one (default 8443)"),
            OptionSpec("data-dir", "DIR", help: "directory for the database and other state (default ./data)"),
            OptionSpec("database", "FILE", help: "SQLite database file (default DIR/sprechstunde.sqlite)"),
            OptionSpec("tls-cert", "FILE", help: "PEM certificate chain for HTTPS"),
            OptionSpec("tls-key", "FILE", help: "PEM private key for HTTPS"),
            OptionSpec(
                "plain-http", help: "serve plain HTTP (only behind a TLS-terminating reverse proxy)", flag: true),
            OptionSpec("threads", "N", help: "HTTP worker threads (default 4)"),
            OptionSpec("public-url", "URL", help: "external base URL, e.g. https://video.example.org (for links)"),
            OptionSpec("token-lifetime", "SECONDS", help: "bearer token lifetime (default 86400)"),
            OptionSpec(
                "trust-forwarded-for", help: "take client addresses from X-Forwarded-For (reverse proxy only)",
                flag: true),
            OptionSpec("max-body-bytes", "BYTES", help: "largest accepted request body (default 1048576)"),
            OptionSpec("connection-timeout", "SECONDS", help: "idle/read timeout per connection (default 30)"),
            OptionSpec(
                "max-connections-per-address", "N",
                help:
                    "open connections one client address may hold, 0 for no limit (default 512; 0 with --trust-forwarded-for)"
            ),
            OptionSpec("access-log", "on|off", help: "write one line per request to stderr (default on)"),
            OptionSpec(
                "tan-validity-days", "DAYS", help: "TANs stay valid this long after a call's planned end (default 30)"),
            OptionSpec(
                "end-grace-seconds", "SECONDS",
                help: "a running call ends after its room stayed empty this long (default 30)"),
            OptionSpec(
                "retention-days", "DAYS", help: "calls and call logs are deleted after this many days (default 90)"),
            OptionSpec("stun-url", "URLS", help: "comma-separated stun: URLs handed to the video pages"),
            OptionSpec("turn-url", "URLS", help: "comma-separated turn:/turns: URLs of a TURN server such as coturn"),
            OptionSpec(
                "turn-secret", "SECRET", help: "shared secret with the TURN server (coturn's static-auth-secret)"),
            OptionSpec(
                "turn-ttl", "SECONDS", help: "lifetime of issued TURN credentials (default 7200, at most 86400)"),
            OptionSpec("ice-transport-policy", "all|relay", help: "relay forces every call through TURN (default all)"),
            OptionSpec(
                "frame-ancestors", "SOURCES",
                help: "who may embed the video pages in an iframe, as CSP frame-ancestors (default *)"),
            OptionSpec(
                "privacy-url", "URL",
                help: "the practice's privacy policy (http or https), linked where patients give their consent"),
            OptionSpec(
                "overtime-grace-seconds", "SECONDS",
                help: "a call that is not extendable ends this long after its planned end (default 600)"),
            OptionSpec(
                "web-dir", "DIRECTORY",
                help: "serve the video pages' files from this directory instead of the built-in ones (read at start)"),
        ] + DeliveryConfiguration.specs

    /// Applies parsed options over the defaults and validates the result.
    mutating func apply(_ options: ParsedOptions) throws {
        if let host = options.string("host") { self.host = host }
        if let port = try options.int("port", in: 0...65535) { self.port = UInt16(port) }
        if let directory = options.string("data-dir") { dataDirectory = directory }
        if let database = options.string("database") { databasePath = database }
        if let certificate = options.string("tls-cert") { tlsCertificatePath = certificate }
        if let key = options.string("tls-key") { tlsKeyPath = key }
        if try options.flag("plain-http") { plainHTTP = true }
        if let threads = try options.int("threads", in: 1...256) { self.threads = threads }
        if let url = options.string("public-url") { publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url }
        if let lifetime = try options.int("token-lifetime", in: 60...31_536_000) { tokenLifetime = Int64(lifetime) }
        if try options.flag("trust-forwarded-for") { trustForwardedFor = true }
        if let bytes = try options.int("max-body-bytes", in: 1024...(64 << 20)) { maximumBodyBytes = bytes }
        if let seconds = try options.int("connection-timeout", in: 1...3600) { connectionTimeout = seconds }
        if let count = try options.int("max-connections-per-address", in: 0...16384) {
            maximumConnectionsPerAddress = count
        }
        if let days = try options.int("tan-validity-days", in: 0...365) { tanValidityDays = days }
        if let days = try options.int("retention-days", in: 1...3650) { retentionDays = days }
        if let seconds = try options.int("end-grace-seconds", in: 5...86_400) { endGraceSeconds = seconds }
        if let urls = options.string("stun-url") { ice.stunURLs = Self.list(urls) }
        if let urls = options.string("turn-url") { ice.turnURLs = Self.list(urls) }
        if let secret = options.string("turn-secret") { ice.turnSecret = secret }
        if let seconds = try options.int("turn-ttl", in: 60...86_400) { ice.turnCredentialLifetime = Int64(seconds) }
        if let policy = options.string("ice-transport-policy") {
            guard ["all", "relay"].contains(policy) else {
                throw UsageError(
                    description: "\(options.named("ice-transport-policy")) takes all or relay, not '\(policy)'")
            }
            ice.transportPolicy = policy
        }
        if let sources = options.string("frame-ancestors") {
            guard !sources.isEmpty, !sources.contains(where: { $0 == ";" || $0 == "," || $0.isNewline }) else {
                throw UsageError(
                    description:
                        "\(options.named("frame-ancestors")) takes space-separated sources such as 'https://praxis.example' or *, no ; or ,"
                )
            }
            frameAncestors = sources
        }
        if let seconds = try options.int("overtime-grace-seconds", in: 0...86_400) { overtimeGraceSeconds = seconds }
        if let url = options.string("privacy-url") {
            // A plain address: no spaces or control characters, no user name, a real port.
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                let host = parsed.host, !host.isEmpty,
                host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:[]".contains($0) }), parsed.user == nil,
                (parsed.port ?? 443) >= 1 && (parsed.port ?? 443) <= 65535, url.count <= 2000,
                !url.unicodeScalars.contains(where: {
                    $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F
                })
            else {
                throw UsageError(
                    description:
                        "\(options.named("privacy-url")) takes an http or https address such as https://praxis.example/datenschutz, not '\(url)'"
                )
            }
            privacyURL = url
        }
        if let directory = options.string("web-dir") { webDirectory = directory }
        try delivery.apply(options)
        if let log = options.string("access-log") {
            switch log.lowercased() {
            case "on", "true", "1": accessLog = true
            case "off", "false", "0": accessLog = false
            default: throw UsageError(description: "\(options.named("access-log")) takes on or off, not '\(log)'")
            }
        }
    }

    /// The per-address limit in force (0: none).
    public var resolvedConnectionsPerAddress: Int {
        maximumConnectionsPerAddress ?? (trustForwardedFor ? 0 : Self.defaultConnectionsPerAddress)
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Checks that the combination makes sense before anything starts.
    func validate() throws {
        try delivery.validate()
        if let webDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: webDirectory, isDirectory: &isDirectory),
                isDirectory.boolValue,
                FileManager.default.fileExists(atPath: webDirectory + "/call.html")
            else {
                throw UsageError(description: "--web-dir \(webDirectory) is not a directory with call.html in it")
            }
        }
        for url in ice.stunURLs where !url.hasPrefix("stun:") && !url.hasPrefix("stuns:") {
            throw UsageError(
                description: "--stun-url \(url): STUN URLs start with stun: (e.g. stun:turn.example.org:3478)")
        }
        for url in ice.turnURLs where !url.hasPrefix("turn:") && !url.hasPrefix("turns:") {
            throw UsageError(
                description: "--turn-url \(url): TURN URLs start with turn: or turns: (e.g. turn:turn.example.org:3478)"
            )
        }
        if !ice.turnURLs.isEmpty && (ice.turnSecret ?? "").isEmpty {
            throw UsageError(
                description:
                    "--turn-url needs --turn-secret (or SPRECHSTUNDE_TURN_SECRET), the secret shared with the TURN server"
            )
        }
        if ice.transportPolicy == "relay" && ice.turnURLs.isEmpty {
            throw UsageError(
                description: "--ice-transport-policy relay needs a TURN server: set --turn-url and --turn-secret")
        }
        if let publicURL, !(publicURL.hasPrefix("https://") || publicURL.hasPrefix("http://")) {
            throw UsageError(
                description: "--public-url must start with https:// (or http://), e.g. https://video.example.org")
        }
        if plainHTTP {
            if tlsCertificatePath != nil || tlsKeyPath != nil {
                throw UsageError(description: "--plain-http and --tls-cert/--tls-key exclude each other; choose one")
            }
            return
        }
        guard let certificate = tlsCertificatePath, let key = tlsKeyPath else {
            throw UsageError(
                description:
                    "HTTPS needs --tls-cert FILE and --tls-key FILE (or SPRECHSTUNDE_TLS_CERT/SPRECHSTUNDE_TLS_KEY); use --plain-http only behind a TLS-terminating reverse proxy"
            )
        }
        for (flag, path) in [("--tls-cert", certificate), ("--tls-key", key)]
        where !FileManager.default.isReadableFile(atPath: path) {
            throw UsageError(description: "\(flag) \(path): no readable file there")
        }
    }

    /// The certificate and key as PEM text.
    func loadTLS() throws -> (certificate: String, key: String)? {
        guard !plainHTTP, let certificate = tlsCertificatePath, let key = tlsKeyPath else { return nil }
        let certificateText = try String(contentsOfFile: certificate, encoding: .utf8)
        let keyText = try String(contentsOfFile: key, encoding: .utf8)
        guard certificateText.contains("BEGIN CERTIFICATE") else {
            throw UsageError(description: "--tls-cert \(certificate) holds no PEM certificate")
        }
        guard keyText.contains("PRIVATE KEY") else {
            throw UsageError(description: "--tls-key \(key) holds no PEM private key")
        }
        return (certificateText, keyText)
    }
}
