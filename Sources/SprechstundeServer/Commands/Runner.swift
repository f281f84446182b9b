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
        settings.listenHost = configuration.host
        settings.tls = !configuration.plainHTTP
        settings.trustForwardedFor = configuration.trustForwardedFor
        settings.auth.tokenLifetime = configuration.tokenLifetime
        settings.calls.tanValidityAfterEnd = Int64(configuration.tanValidityDays) * 86_400
        settings.retentionDays = configuration.retentionDays
        settings.video.ice = configuration.ice
        settings.frameAncestors = configuration.frameAncestors
        settings.privacyURL = configuration.privacyURL
        settings.signaling.overtimeGrace = Int64(configuration.overtimeGraceSeconds)
        let delivery = configuration.delivery
        let baseURL = configuration.publicURL ?? "https://localhost:\(configuration.port)"
        var planner = NotificationPlanner.Settings(
            baseURL: baseURL, senderAddress: "noreply@localhost", timeZone: delivery.timeZone,
            smsMaximumParts: delivery.smsMaximumParts)
        planner.senderAddress = delivery.mailFrom ?? "noreply@\(planner.messageDomain)"
        settings.delivery = DeliveryService.Settings(planner: planner)
        if let backoff = delivery.backoff { settings.delivery.backoff = backoff }
        if let attempts = delivery.maximumAttempts { settings.delivery.maximumAttempts = attempts }
        settings.mail = delivery.mail
        settings.sms = delivery.sms
        if let directory = configuration.webDirectory {
            settings.webAssets = WebAssets.load(directory: URL(fileURLWithPath: directory))
        }
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
        var serverConfiguration = Server.Configuration(
            host: configuration.host, port: configuration.port, tls: try configuration.loadTLS(),
            threads: configuration.threads, connectionTimeout: configuration.connectionTimeout,
            maximumBodyBytes: configuration.maximumBodyBytes,
            maximumConnectionsPerAddress: configuration.resolvedConnectionsPerAddress)
        serverConfiguration.isSlow = Application.hashesPasswords
        let server = Server(configuration: serverConfiguration, handler: application.handle)
        do {
            try server.start()
        } catch {
            throw UsageError(description: "\(error)")
        }
        let scheme = configuration.plainHTTP ? "http" : "https"
        let shownHost = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host
        let base = "\(scheme)://\(shownHost.contains(":") ? "[\(shownHost)]" : shownHost):\(server.boundPort)"
        application.signaling.start()
        application.delivery.use(baseURL: configuration.publicURL ?? base)
        let maintenance = Maintenance(application: application, endGrace: Int64(configuration.endGraceSeconds))
        maintenance.start()
        onListening(base)
        // A URL one can open; 0.0.0.0 (the default) also takes connections on every other address.
        let everywhere = configuration.host == "0.0.0.0" ? " (and on every other address of this machine)" : ""
        say("Sprechstunde listening on \(base)\(everywhere)")

        var received: Int32 = 0
        sigwait(&signals, &received)
        say("Stopping (signal \(received)); finishing open requests.")
        server.stop()
    }
}

/// Periodic housekeeping in the server process.
final class Maintenance {
    let application: Application
    let endGrace: Int64
    let hourly: DispatchSourceTimer
    let everyMinute: DispatchSourceTimer
    let everyFewSeconds: DispatchSourceTimer
    /// Its own serial queue: a slow SMTP server never delays the other maintenance.
    let delivery: DispatchSourceTimer

    init(application: Application, endGrace: Int64) {
        self.application = application
        self.endGrace = endGrace
        everyFewSeconds = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        hourly = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        everyMinute = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        delivery = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "sprechstunde.delivery"))
    }

    func start() {
        hourly.schedule(deadline: .now(), repeating: .seconds(3600))
        hourly.setEventHandler { [application] in
            // Expired tokens are useless; keeping their hashes around serves nobody.
            _ = try? application.store.purgeExpiredTokens(before: Clock.system.now() - 86_400)
            do {
                let purged = try application.retention.purge()
                if purged > 0 {
                    application.log.info(
                        "retention: deleted \(purged) calls older than \(application.retention.retentionDays) days")
                }
            } catch {
                application.log.error("retention purge failed: \(error)")
            }
        }
        hourly.resume()
        everyMinute.schedule(deadline: .now(), repeating: .seconds(60))
        everyMinute.setEventHandler { [application] in
            // Sessions whose peer vanished (or that a killed process left open) end at their last sign of life.
            _ = try? application.callLogs.closeVanished(silentFor: 60)
        }
        everyMinute.resume()
        everyFewSeconds.schedule(deadline: .now(), repeating: .seconds(5))
        everyFewSeconds.setEventHandler { [application, endGrace] in
            // A running call whose room stayed empty for the grace period has ended (final).
            _ = try? application.callLogs.endIdleCalls(grace: endGrace)
        }
        everyFewSeconds.resume()
        delivery.schedule(deadline: .now() + 1, repeating: .seconds(2))
        delivery.setEventHandler { [application] in
            do {
                let run = try application.delivery.runOnce()
                if run.sent + run.retried + run.failed > 0 {
                    application.log.info(
                        "notifications: \(run.sent) sent, \(run.retried) to retry, \(run.failed) failed")
                }
            } catch {
                application.log.error("notification delivery failed: \(error)")
            }
        }
        delivery.resume()
    }
}
