import Foundation
import Sprechstunde
import SprechstundeSQLite

/// `sprechstunde demo`: a working server out of the box. First start: database, self-signed
/// certificate, a demo company with an admin and a machine client, `config.ini`. Later starts
/// keep all of it.
enum Demo {
    static let specs: [OptionSpec] =
        [
            OptionSpec("host", "ADDRESS", help: "address to listen on (default 127.0.0.1)"),
            OptionSpec("port", "PORT", help: "TCP port; 0 picks a free one (default 8443)"),
            OptionSpec("data-dir", "DIR", help: "where the demo keeps its state (default ./demo-data)"),
            OptionSpec("threads", "N", help: "HTTP worker threads (default 4)"),
            OptionSpec("access-log", "on|off", help: "write one line per request to stderr (default on)"),
        ] + ServerConfiguration.specs.filter { demoAlsoTakes.contains($0.name) } + DeliveryConfiguration.specs

    /// The server options that make sense for a demo too (calls, video, embedding, and all of
    /// notification delivery); TLS and the database stay the demo's own.
    static let demoAlsoTakes: Set<String> = [
        "public-url", "end-grace-seconds", "tan-validity-days", "stun-url", "turn-url", "turn-secret", "turn-ttl",
        "ice-transport-policy", "frame-ancestors", "overtime-grace-seconds", "web-dir", "max-connections-per-address",
        "privacy-url",
    ]

    static let summary = """
        Starts a demo server over HTTPS with an embedded SQLite database, a self-signed certificate for
        localhost and 127.0.0.1, a demo company with an admin and a machine client. Credentials are
        printed and written to DIR/config.ini; later starts keep them.
        """

    struct Credentials {
        var email: String
        var password: String
        var clientID: String
        var clientSecret: String
    }

    static func run(_ options: ParsedOptions) throws {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.dataDirectory = "./demo-data"
        try configuration.apply(options)
        let directory = URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
        configuration.dataDirectory = directory
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        let tlsDirectory = directory + "/tls"
        configuration.tlsCertificatePath = tlsDirectory + "/cert.pem"
        configuration.tlsKeyPath = tlsDirectory + "/key.pem"
        try Certificate.ensureSelfSigned(directory: tlsDirectory)
        try configuration.validate()

        let store = try Runner.openStore(configuration)
        let credentials = try ensureAccounts(store: store, configFile: directory + "/config.ini")

        try Runner.run(configuration, store: store) { base in
            let authority = String(base.dropFirst("https://".count))
            try? writeConfig(
                credentials, to: directory + "/config.ini", hostname: authority, base: base,
                certificate: configuration.tlsCertificatePath!)
            printWelcome(credentials, base: base, directory: directory)
        }
    }

    /// Reuses the credentials in config.ini while they still sign in; creates them otherwise.
    static func ensureAccounts(store: SQLiteStore, configFile: String) throws -> Credentials {
        if let existing = readConfig(configFile), let (_, hash) = try store.account(email: existing.email), let hash,
            Crypto.verifyPassword(existing.password, hash: hash),
            let (_, secretHash) = try store.client(clientID: existing.clientID),
            Crypto.verifyPassword(existing.clientSecret, hash: secretHash)
        {
            return existing
        }
        let provisioning = Provisioning(store: store)
        let company: Company
        if let first = try store.companies(onlyID: nil, page: PageRequest(page: 1, perPage: 1)).items.first {
            company = first
        } else {
            company = try provisioning.createCompany(name: "Demo Praxis")
        }
        let email = "admin@demo.sprechstunde.example"
        let password = Crypto.randomAlphanumeric(20)
        if let (admin, _) = try store.account(email: email) {
            try provisioning.setPassword(userID: admin.id, password: password)
        } else {
            _ = try provisioning.createUser(
                name: "Demo Admin", email: email, password: password, role: .admin, companyID: company.id)
        }
        let (client, secret) = try provisioning.createClient(companyID: company.id, name: "Demo machine client")
        return Credentials(email: email, password: password, clientID: client.clientID, clientSecret: secret)
    }

    static func readConfig(_ path: String) -> Credentials? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var section = ""
        var values: [String: String] = [:]
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#"), !line.hasPrefix(";") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                values[section + "." + key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            }
        }
        guard let email = values["credentials.email"], let password = values["credentials.password"],
            let clientID = values["client_credentials.client_id"],
            let secret = values["client_credentials.client_password"]
        else { return nil }
        return Credentials(email: email, password: password, clientID: clientID, clientSecret: secret)
    }

    /// The format integrators' notebooks read with ConfigParser, plus where the server is.
    static func writeConfig(
        _ credentials: Credentials, to path: String, hostname: String, base: String, certificate: String
    ) throws {
        let text = """
            # Written by `sprechstunde demo`. Keep it private: it holds passwords.
            [server]
            hostname = \(hostname)
            base_url = \(base)
            ca_bundle = \(certificate)

            [credentials]
            email = \(credentials.email)
            password = \(credentials.password)

            [client_credentials]
            client_id = \(credentials.clientID)
            client_password = \(credentials.clientSecret)

            """
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw UsageError(description: "cannot write \(path)") }
    }

    static func printWelcome(_ credentials: Credentials, base: String, directory: String) {
        let certificate = directory + "/tls/cert.pem"
        say(
            """

            Sprechstunde demo is running.

              Base URL         \(base)
              Admin e-mail     \(credentials.email)
              Admin password   \(credentials.password)
              Client ID        \(credentials.clientID)
              Client password  \(credentials.clientSecret)
              Certificate      \(certificate)
              Written to       \(directory)/config.ini

            Try it (another terminal):

              curl --cacert \(certificate) -H 'Content-Type: application/json' \\
                   -d '{"email":"\(credentials.email)","password":"\(credentials.password)"}' \(base)/api/v2/auth

            Existing ak client code: set hostname = '\(base.dropFirst("https://".count))' and
              export REQUESTS_CA_BUNDLE=\(certificate)

            Stop with Ctrl-C; data and credentials are kept for the next start.

            """)
    }
}
