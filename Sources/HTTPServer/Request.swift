/// An HTTP request as the router and handlers see it, independent of libmicrohttpd so that
/// handlers can be tested in-process.
public struct Request: Sendable {
    public var method: String
    /// The path without the query string, percent-decoded by the server.
    public var path: String
    /// Query arguments in the order given; a repeated name keeps every value.
    public var queryItems: [(String, String)]
    /// Header names are lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]
    /// The peer's IP address as text.
    public var clientAddress: String
    /// Filled in by the router: the values of `{name}` segments.
    public var pathParameters: [String: String] = [:]
    /// Filled in by the router: the matched route pattern, e.g. `/api/v2/users/{id}`.
    public var routeTemplate: String?
    /// Set by the server when the body was larger than this many bytes and was not read.
    public var bodyLimitExceeded: Int?
    /// Set by the server: headers that must come once (`Request.singleHeaders`) but came more
    /// often. `headers` keeps only the last, so which one counts would be a guess.
    public var repeatedHeaders: [String] = []
    /// Host (RFC 9112 requires a 400 for two), and those whose meaning two would make ambiguous.
    public static let singleHeaders: Set<String> = ["host", "origin", "authorization", "content-type"]

    public init(
        method: String, path: String, queryItems: [(String, String)] = [], headers: [String: String] = [:],
        body: [UInt8] = [], clientAddress: String = "127.0.0.1"
    ) {
        self.method = method
        self.path = path
        self.queryItems = queryItems
        self.headers = headers
        self.body = body
        self.clientAddress = clientAddress
    }

    /// The last value of query argument `name`.
    public func query(_ name: String) -> String? {
        queryItems.last(where: { $0.0 == name })?.1
    }

    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }

    /// The bearer token of the `Authorization` header, if any.
    public var bearerToken: String? {
        guard let value = header("authorization") else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: " \t")
        return token.isEmpty ? nil : String(token)
    }

    /// The body parsed as JSON. An empty body is `nil`; anything unparsable is a 400 that says where.
    public func jsonBody() throws(HTTPError) -> JSON? {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        do {
            return try JSON.parse(body)
        } catch {
            throw HTTPError(.badRequest, "The request body is not valid JSON: \(error.description).")
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var result = self
        while let first = result.first, set.contains(first) { result = result.dropFirst() }
        while let last = result.last, set.contains(last) { result = result.dropLast() }
        return result
    }
}
