import Foundation
import Sprechstunde
import SprechstundeSQLite

/// `sprechstunde <command> [options]`: the executable's whole behaviour, kept out of main.swift
/// so that it is testable.
public enum CommandLineInterface {
    static let overview = """
        usage: sprechstunde <command> [options]

        Sprechstunde: a self-hosted video-consultation server speaking the ak User/Client API.

        commands:
          demo              start a demo server over HTTPS with credentials printed (the quick start)
          serve             run the server
          migrate           apply database migrations and exit
          company create    create a company (tenant)
          user create       create a user: doc, assistant, admin or superadmin
          client create     create a machine client for the Client API (the secret is shown once)
          purge             delete calls and call logs older than the retention period now
          notifications list    show notifications (e-mail, SMS) and their delivery state
          notifications retry   queue a failed notification again

        Every command takes --help. The options of demo, serve, migrate and purge can also be set
        as SPRECHSTUNDE_<OPTION> environment variables (e.g. SPRECHSTUNDE_PORT=8443); flags win
        over the environment. The other commands read only SPRECHSTUNDE_DATA_DIR and
        SPRECHSTUNDE_DATABASE from it, so that a name or password never comes from there by
        accident.
        """

    static let storeSpecs: [OptionSpec] = [
        OptionSpec("data-dir", "DIR", help: "directory of the database (default ./data)"),
        OptionSpec("database", "FILE", help: "SQLite database file (default DIR/sprechstunde.sqlite)"),
    ]

    /// Runs the command and returns the process exit status.
    public static func run(_ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Int32
    {
        var arguments = Array(arguments.dropFirst())
        guard let command = arguments.first, command != "--help", command != "-h", command != "help" else {
            say(overview)
            return arguments.isEmpty ? 64 : 0
        }
        arguments.removeFirst()
        // Two-word commands: "company create", ..., "notifications list".
        var name = command
        let verbs = [
            "company": ["create"], "user": ["create"], "client": ["create"], "notifications": ["list", "retry"],
        ]
        if let allowed = verbs[command] {
            if let first = arguments.first, ["--help", "-h", "help"].contains(first) {
                say(
                    "usage: " + allowed.map { "sprechstunde \(command) \($0) [options]" }.joined(separator: "\n       ")
                        + "\n\n'sprechstunde \(command) \(allowed[0]) --help' lists the options.")
                return 0
            }
            guard let verb = arguments.first, allowed.contains(verb) else {
                let wanted = arguments.first.map { "'\($0)'" } ?? "nothing"
                let choices = allowed.map { "'\($0)'" }.joined(separator: " or ")
                printError("sprechstunde: '\(command)' takes \(choices), got \(wanted); see 'sprechstunde --help'\n")
                return 64
            }
            arguments.removeFirst()
            name = "\(command) \(verb)"
        }
        // Only the server's settings come from the environment; see the overview.
        let storeVariables: Set<String> = ["SPRECHSTUNDE_DATA_DIR", "SPRECHSTUNDE_DATABASE"]
        let environment =
            ["serve", "demo", "migrate", "purge"].contains(name)
            ? environment : environment.filter { storeVariables.contains($0.key) }
        do {
            switch name {
            case "serve": try serve(arguments, environment)
            case "demo": try withOptions(name, Demo.summary, Demo.specs, arguments, environment, Demo.run)
            case "migrate": try migrate(arguments, environment)
            case "purge": try purge(arguments, environment)
            case "company create": try createCompany(arguments, environment)
            case "user create": try createUser(arguments, environment)
            case "client create": try createClient(arguments, environment)
            case "notifications list": try listNotifications(arguments, environment)
            case "notifications retry": try retryNotification(arguments, environment)
            default:
                throw UsageError(
                    description:
                        "unknown command '\(command)'; commands: demo, serve, migrate, purge, company create, user create, client create, notifications list, notifications retry"
                )
            }
            return 0
        } catch is HelpShown {
            return 0
        } catch let error as UsageError {
            printError("sprechstunde: \(error.description)\n")
            return 64
        } catch let error as DomainError {
            let details = error.fieldErrors.flatMap { field, messages in messages.map { "  \(field): \($0)" } }
            printError((["sprechstunde: \(error.message)"] + details).joined(separator: "\n") + "\n")
            return 65
        } catch {
            printError("sprechstunde: \(error)\n")
            return 70
        }
    }

    struct HelpShown: Error {}

    static func withOptions(
        _ command: String, _ summary: String, _ specs: [OptionSpec], _ arguments: [String],
        _ environment: [String: String],
        _ body: (ParsedOptions) throws -> Void
    ) throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            say(helpText(command: command, summary: summary, specs: specs))
            throw HelpShown()
        }
        try body(ParsedOptions(command: command, arguments: arguments, specs: specs, environment: environment))
    }

    static func serve(_ arguments: [String], _ environment: [String: String]) throws {
        let summary = "Runs the server over HTTPS (or plain HTTP behind a reverse proxy) until SIGINT/SIGTERM."
        try withOptions("serve", summary, ServerConfiguration.specs, arguments, environment) { options in
            var configuration = ServerConfiguration()
            try configuration.apply(options)
            try configuration.validate()
            let store = try Runner.openStore(configuration)
            try Runner.run(configuration, store: store) { _ in }
        }
    }

    static func storeFrom(_ options: ParsedOptions) throws -> SQLiteStore {
        var configuration = ServerConfiguration()
        if let directory = options.string("data-dir") { configuration.dataDirectory = directory }
        configuration.databasePath = options.string("database")
        return try Runner.openStore(configuration)
    }

    static func migrate(_ arguments: [String], _ environment: [String: String]) throws {
        try withOptions("migrate", "Applies pending database migrations and exits.", storeSpecs, arguments, environment)
        { options in
            let store = try storeFrom(options)
            say("Database is at schema version \(try store.database.schemaVersion()).")
        }
    }

    static func purge(_ arguments: [String], _ environment: [String: String]) throws {
        let specs =
            storeSpecs + [
                OptionSpec(
                    "retention-days", "DAYS",
                    help: "delete calls whose planned end and last activity lie more than DAYS days back (default 90)")
            ]
        let summary = "Deletes calls, their call logs, one-time passwords and TAN users after the retention period."
        try withOptions("purge", summary, specs, arguments, environment) { options in
            let days = try options.int("retention-days", in: 1...3650) ?? RetentionService.defaultRetentionDays
            let purged = try RetentionService(store: storeFrom(options), retentionDays: days).purge()
            say("Deleted \(purged) calls older than \(days) days, with their logs and TAN users.")
        }
    }

    static func createCompany(_ arguments: [String], _ environment: [String: String]) throws {
        let specs = storeSpecs + [OptionSpec("name", "NAME", help: "the company's name")]
        try withOptions(
            "company create", "Creates a company (tenant) and prints its id.", specs, arguments, environment
        ) { options in
            let company = try Provisioning(store: storeFrom(options)).createCompany(name: options.required("name"))
            say("Created company \(company.id) (\(company.name)).")
        }
    }

    static func createUser(_ arguments: [String], _ environment: [String: String]) throws {
        let specs =
            storeSpecs + [
                OptionSpec("company", "ID", help: "company id (not needed for a superadmin)"),
                OptionSpec("name", "NAME", help: "display name, e.g. \"Dr. Erika Muster\""),
                OptionSpec("email", "EMAIL", help: "sign-in e-mail address"),
                OptionSpec("password", "PASSWORD", help: "at least 8 characters; omitted: a random one is printed"),
                OptionSpec("role", "ROLE", help: "doc, assistant, admin or superadmin"),
            ]
        try withOptions("user create", "Creates a user who can sign in.", specs, arguments, environment) { options in
            let roleName = try options.required("role")
            guard let role = Role.allCases.first(where: { $0.name == roleName || String($0.rawValue) == roleName }),
                role != .tanuser
            else {
                throw UsageError(description: "--role must be doc, assistant, admin or superadmin, not '\(roleName)'")
            }
            var companyID: Int64?
            if let text = options.string("company") {
                guard let id = Int64(text) else {
                    throw UsageError(description: "--company must be a company id (a number)")
                }
                companyID = id
            }
            let generated = options.string("password") == nil
            let password = options.string("password") ?? Crypto.randomAlphanumeric(20)
            let user = try Provisioning(store: storeFrom(options)).createUser(
                name: options.required("name"), email: options.required("email"), password: password, role: role,
                companyID: companyID)
            say("Created \(role.name) user \(user.id).")
            if generated { say("Password: \(password)") }
        }
    }

    static func createClient(_ arguments: [String], _ environment: [String: String]) throws {
        let specs =
            storeSpecs + [
                OptionSpec("company", "ID", help: "company id the client acts for"),
                OptionSpec("name", "NAME", help: "what the client is, e.g. \"Practice system\""),
            ]
        try withOptions(
            "client create", "Creates a machine client; the secret is printed once.", specs, arguments, environment
        ) {
            options in
            guard let companyID = Int64(try options.required("company")) else {
                throw UsageError(description: "--company must be a company id (a number)")
            }
            let (client, secret) = try Provisioning(store: storeFrom(options)).createClient(
                companyID: companyID, name: options.string("name") ?? "Machine client")
            say("client_id = \(client.clientID)")
            say("client_password = \(secret)")
            say("The password is shown only now; store it safely.")
        }
    }
}

/// Writes to standard error (diagnostics never go to stdout, which scripts parse).
func printError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Writes a line to standard output unbuffered, so that a script waiting for
/// "listening on" sees it at once even through a pipe.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
