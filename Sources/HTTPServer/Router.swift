/// Maps method + path to a handler. Patterns are literal segments and `{name}` parameters.
/// An unknown path is 404 and a known path with another method is 405 (with `Allow`), both
/// in the contract's JSON error shape.
public struct Router: Sendable {
    public typealias Handler = @Sendable (Request) throws -> Response

    public struct Route: Sendable {
        public let method: String
        public let pattern: String
        let segments: [Segment]
        let handler: Handler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        let segments = Router.split(pattern).map { part -> Segment in
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(String(part))
        }
        // Parameter names do not tell routes apart: `/a/{id}` after `/a/{name}` could never match.
        precondition(
            !routes.contains { $0.method == method && Router.shape($0.segments) == Router.shape(segments) },
            "duplicate route \(method) \(pattern)")
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { add("GET", pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { add("POST", pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { add("PUT", pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { add("PATCH", pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add("DELETE", pattern, handler) }

    /// The segments with parameter names erased.
    static func shape(_ segments: [Segment]) -> [Segment] {
        segments.map { if case .parameter = $0 { return .parameter("") } else { return $0 } }
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    public enum Match {
        case found(Route, [String: String])
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        let parts = Router.split(path)
        var allowed: [String] = []
        for route in routes where route.segments.count == parts.count {
            guard let parameters = Router.bind(route.segments, to: parts) else { continue }
            // HEAD is answered by the GET handler; the server drops the body.
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route, parameters)
            }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    static func bind(_ segments: [Segment], to parts: [Substring]) -> [String: String]? {
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let literal): if literal != part { return nil }
            case .parameter(let name): parameters[name] = String(part)
            }
        }
        return parameters
    }

    /// Routes the request; errors thrown by handlers are left to the caller (the application
    /// decides how its errors map to responses). `matched` learns the route template first,
    /// for the access log (never the raw path, which may hold identifiers).
    public func handle(_ request: Request, matched: (String) -> Void = { _ in }) throws -> Response {
        if let limit = request.bodyLimitExceeded {
            throw HTTPError(.payloadTooLarge, "The request body is larger than \(limit) bytes.")
        }
        if let name = request.repeatedHeaders.first {
            let spelled = name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }
            throw HTTPError(
                .badRequest,
                "The request carries the \(spelled.joined(separator: "-")) header more than once; send it once.")
        }
        var request = request
        switch match(method: request.method, path: request.path) {
        case .found(let route, let parameters):
            matched(route.pattern)
            request.pathParameters = parameters
            request.routeTemplate = route.pattern
            return try route.handler(request)
        case .methodNotAllowed(let allowed):
            throw HTTPError(
                .methodNotAllowed, "\(request.method) is not allowed here; use \(allowed.joined(separator: ", ")).",
                headers: [("Allow", allowed.joined(separator: ", "))])
        case .notFound:
            throw HTTPError(.notFound, "No such endpoint: \(request.method) \(request.path).")
        }
    }

    /// The route template a request would match, for access logs (never the raw path, which
    /// may hold identifiers).
    public func template(method: String, path: String) -> String? {
        if case .found(let route, _) = match(method: method, path: path) { return route.pattern }
        return nil
    }
}
