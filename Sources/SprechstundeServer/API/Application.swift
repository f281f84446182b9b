import Foundation
import HTTPServer
import Sprechstunde

/// The API: the router with every route, error mapping in one place, security headers and
/// the access log. `handle` is what the HTTP server calls for each request.
public final class Application: Sendable {
    public let store: any Store
    let auth: AuthService
    let users: UserService
    let companies: CompanyService
    let organisation: OrganisationService
    let calls: CallService
    let callLogs: CallLogService
    let callAccess: CallAccessService
    let retention: RetentionService
    let video: VideoEntryService
    let signaling: SignalingHub
    let delivery: DeliveryService
    let appointments: AppointmentService
    let settings: Settings
    /// Written once at the end of `init` (the route closures capture `self`), then only read.
    public private(set) nonisolated(unsafe) var router = Router()
    let log: Log

    public struct Settings: Sendable {
        /// Used for pagination links. Without it, links use the request's Host header, but only
        /// when it names this server (`localhost`, a loopback address or `listenHost`): a
        /// forged Host must not turn links (which clients follow with their token) elsewhere.
        public var publicURL: String?
        /// The address the server listens on, accepted as a Host for links.
        public var listenHost: String?
        /// Whether requests arrive over TLS (for links and HSTS).
        public var tls: Bool = true
        /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
        public var trustForwardedFor = false
        public var auth = AuthService.Settings()
        public var calls = CallService.Settings()
        public var callAccess = CallAccessService.Settings()
        public var retentionDays = RetentionService.defaultRetentionDays
        public var video = VideoEntryService.Settings()
        public var signaling = SignalingHub.Settings()
        /// `Content-Security-Policy: frame-ancestors` of the video pages: who may embed them.
        public var frameAncestors = "*"
        /// The practice's privacy policy, linked from the video pages' consent step.
        public var privacyURL: String?
        /// The browser client's files (the built-in copy unless `--web-dir` says otherwise).
        public var webAssets = WebAssets.bundled
        /// Notifications: what they say and where they go (no transport: kept in the outbox).
        public var delivery = DeliveryService.Settings(
            planner: .init(baseURL: "https://localhost:8443", senderAddress: "noreply@localhost"))
        var mail: SMTPTransport.Settings?
        var sms: SMSGatewayTransport.Settings?
        public init() {}
    }

    public init(store: any Store, settings: Settings = Settings(), clock: Clock = .system, log: Log = .standardError) {
        self.store = store
        self.settings = settings
        self.log = log
        auth = AuthService(store: store, clock: clock, settings: settings.auth)
        users = UserService(store: store, clock: clock, passwordCost: settings.auth.passwordCost)
        companies = CompanyService(store: store, clock: clock)
        organisation = OrganisationService(store: store, clock: clock)
        calls = CallService(store: store, clock: clock, settings: settings.calls)
        appointments = AppointmentService(store: store, clock: clock, callSettings: settings.calls)
        callLogs = CallLogService(store: store, clock: clock)
        callAccess = CallAccessService(store: store, clock: clock, settings: settings.callAccess)
        retention = RetentionService(store: store, clock: clock, retentionDays: settings.retentionDays)
        video = VideoEntryService(
            store: store, clock: clock, settings: settings.video, access: callAccess, auth: auth)
        signaling = SignalingHub(
            entry: video, callLogs: callLogs, store: store, clock: clock, settings: settings.signaling, log: log)
        delivery = DeliveryService(
            store: store, clock: clock, settings: settings.delivery,
            mail: settings.mail.map {
                SMTPTransport(settings: $0, messageDomain: settings.delivery.planner.messageDomain, clock: clock)
            },
            sms: settings.sms.map { SMSGatewayTransport(settings: $0) })
        var router = Router()
        registerHealthRoutes(&router)
        registerAuthRoutes(&router)
        registerCompanyRoutes(&router)
        registerOrganisationRoutes(&router)
        registerUserRoutes(&router)
        registerCallRoutes(&router)
        registerDocumentationRoutes(&router)
        registerVideoRoutes(&router)
        registerNotificationRoutes(&router)
        registerAppointmentRoutes(&router)
        self.router = router
    }

    /// Routes, maps errors to the contract's shape, adds headers and writes one access-log line.
    public func handle(_ request: Request) -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        var response: Response
        var template = "(no route)"
        do {
            response = try router.handle(request) { template = $0 }
        } catch {
            response = errorResponse(error, method: request.method, route: template)
        }
        response.headers.append(("Cache-Control", "no-store"))
        response.headers.append(("X-Content-Type-Options", "nosniff"))
        response.headers.append(("Referrer-Policy", "no-referrer"))
        if settings.tls { response.headers.append(("Strict-Transport-Security", "max-age=31536000")) }
        let micros = (DispatchTime.now().uptimeNanoseconds - started) / 1000
        log.access(method: request.method, route: template, status: response.status, microseconds: micros)
        return response
    }

    func errorResponse(_ error: any Error, method: String, route: String) -> Response {
        switch error {
        case let error as HTTPError:
            return error.response
        case let error as DomainError:
            return Self.httpError(for: error).response
        case let refusal as CallAccessService.Refusal:
            // The video pages show these; `code` is the contract's `error` event code.
            let text = EntryErrorPage.text(for: refusal.rawValue)
            return .json(
                ["message": .string(text.english.title + "."), "code": .string(refusal.rawValue)], status: text.status)
        default:
            // Internals stay in the log (type and description only, never the request).
            log.error("unexpected error on \(method) \(route): \(error)")
            return HTTPError(.internalServerError, "Something went wrong on our side; the error has been logged.")
                .response
        }
    }

    /// The one place where domain failures become HTTP statuses.
    static func httpError(for error: DomainError) -> HTTPError {
        switch error.kind {
        case .unauthenticated: return HTTPError(.unauthorized, error.message, headers: [("WWW-Authenticate", "Bearer")])
        case .forbidden: return HTTPError(.forbidden, error.message)
        case .notFound: return HTTPError(.notFound, error.message)
        case .conflict: return HTTPError(.conflict, error.message)
        case .validation: return HTTPError(.unprocessableEntity, error.message, fieldErrors: error.fieldErrors)
        case .throttled:
            return HTTPError(
                .tooManyRequests, error.message, headers: [("Retry-After", String(error.retryAfter ?? 60))])
        case .unavailable: return HTTPError(.serviceUnavailable, error.message)
        default: return HTTPError(.internalServerError, "Something went wrong on our side; the error has been logged.")
        }
    }

    /// Requests that hash or check a password with Argon2id (about 0.1 s of CPU on purpose): the
    /// server runs them off its connection threads (`Server.Configuration.isSlow`).
    @Sendable static func hashesPasswords(method: String, path: String) -> Bool {
        switch method {
        case "POST":
            return path == "/api/v2/auth" || path == "/api/v2/client" || path == "/video/api/session"
                || path == "/api/v2/users"
        case "PUT", "PATCH":
            return path.hasPrefix("/api/v2/users/")
        default:
            return false
        }
    }

    // MARK: helpers for route handlers

    func principal(_ request: Request) throws -> Principal {
        try auth.authenticate(token: request.bearerToken)
    }

    /// The client's address for throttling.
    func clientAddress(_ request: Request) -> String {
        if settings.trustForwardedFor, let forwarded = request.header("x-forwarded-for"),
            let first = forwarded.split(separator: ",").first
        {
            return first.trimmingCharacters(in: .whitespaces)
        }
        return request.clientAddress
    }

    /// Scheme and host for links in responses.
    func baseURL(_ request: Request) -> String {
        if let publicURL = settings.publicURL { return publicURL }
        let scheme = settings.tls ? "https" : "http"
        let host = request.header("host") ?? ""
        return "\(scheme)://\(isOwnName(host) ? host : "localhost")"
    }

    /// Whether a Host header (with or without port) names this server.
    func isOwnName(_ host: String) -> Bool {
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }) else {
            return false
        }
        var name = host.lowercased()
        if name.hasPrefix("["), let end = name.firstIndex(of: "]") {
            name = String(name[name.index(after: name.startIndex)..<end])
        } else if let colon = name.firstIndex(of: ":") {
            name = String(name[..<colon])
        }
        return ["localhost", "127.0.0.1", "::1", settings.listenHost?.lowercased()].contains(name)
    }

    func pathID(_ request: Request, _ name: String = "id") throws -> Int64 {
        // Digits only, no sign or leading zero: one id has one spelling.
        guard let text = request.pathParameters[name], text.first != "0",
            text.allSatisfy({ $0.isASCII && $0.isNumber }), let id = Int64(text), id > 0
        else {
            throw HTTPError(.notFound, "No such object: ids are positive whole numbers.")
        }
        return id
    }

    func pageRequest(_ request: Request) throws -> PageRequest {
        try PageRequest.parse(page: request.query("page"), perPage: request.query("per_page"))
    }
}
