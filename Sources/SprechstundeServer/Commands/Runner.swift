import Foundation
import HTTPServer
import Sprechstunde
import SprechstundeSQLite

/// Starts the HTTP server for a configuration and runs until SIGINT or SIGTERM.
enum Runner {
    static func openStore(_ configuration: ServerConfiguration) throws -> SQLiteStore {
        let path = configuration.resolvedDatabasePath
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        do {
            return try SQLiteStore(path: path, readers: configuration.threads)
        } catch {
            throw UsageError(description: "cannot open the database \(path): \(error)")
        }
    }

    static func makeApplication(_ configuration: ServerConfiguration, store: any Store) -> Application {
        var settings = Application.Settings()
        settings.publicURL = configuration.publicURL
        settings.tls = !configuration.plainHTTP
        settings.trustForwardedFor = configuration.trustForwardedFor
        settings.auth.tokenLifetime = configuration.tokenLifetime
        var log = Log.standardError
        log.accessLog = configuration.accessLog
        return Application(store: store, settings: settings, log: log)
    }

    /// Binds, calls `onListening` with the base URL, then blocks until a stop signal.
    static func run(
        _ configuration: ServerConfiguration, store: any Store, onListening: (String) -> Void
    ) throws {
        // Block the stop signals before libmicrohttpd starts its threads, so that they
        // inherit the mask and only this thread receives them (in sigwait below).
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        let application = makeApplication(configuration, store: store)
        let server = Server(
            configuration: .init(
                host: configuration.host, port: configuration.port, tls: try configuration.loadTLS(),
                threads: configuration.threads, connectionTimeout: configuration.connectionTimeout,
                maximumBodyBytes: configuration.maximumBodyBytes),
            handler: application.handle)
        do {
            try server.start()
        } catch {
            throw UsageError(description: "\(error)")
        }
        let scheme = configuration.plainHTTP ? "http" : "https"
        let shownHost = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host
        let base = "\(scheme)://\(shownHost.contains(":") ? "[\(shownHost)]" : shownHost):\(server.boundPort)"
        let maintenance = Maintenance(store: store)
        maintenance.start()
        onListening(base)
        say("Sprechstunde listening on \(base)")

        var received: Int32 = 0
        sigwait(&signals, &received)
        say("Stopping (signal \(received)); finishing open requests.")
        server.stop()
    }
}

/// Periodic housekeeping in the server process.
final class Maintenance {
    let store: any Store
    let timer: DispatchSourceTimer

    init(store: any Store) {
        self.store = store
        timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
    }

    func start() {
        timer.schedule(deadline: .now(), repeating: .seconds(3600))
        timer.setEventHandler { [store] in
            // Expired tokens are useless; keeping their hashes around serves nobody.
            _ = try? store.purgeExpiredTokens(before: Clock.system.now() - 86_400)
        }
        timer.resume()
    }
}
