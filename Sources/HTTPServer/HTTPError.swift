/// An error that maps to an HTTP status and the contract's error body:
/// `{"message": ..., "errors": {"field": ["..."]}}`.
public struct HTTPError: Error, Sendable, Equatable {
    public let status: Status
    public let message: String
    /// Validation errors by field, in the order found.
    public let fieldErrors: [(String, [String])]
    public let headers: [(String, String)]
    /// A stable machine-readable reason, sent as `code` when set (the video pages' API).
    public var code: String?

    public init(
        _ status: Status, _ message: String, fieldErrors: [(String, [String])] = [], headers: [(String, String)] = []
    ) {
        self.status = status
        self.message = message
        self.fieldErrors = fieldErrors
        self.headers = headers
    }

    public static func == (lhs: HTTPError, rhs: HTTPError) -> Bool {
        lhs.status == rhs.status && lhs.message == rhs.message && lhs.fieldErrors.map(\.0) == rhs.fieldErrors.map(\.0)
    }

    public var response: Response {
        var body: [(String, JSON)] = [("message", .string(message))]
        if let code { body.append(("code", .string(code))) }
        if !fieldErrors.isEmpty {
            body.append(("errors", .object(fieldErrors.map { ($0.0, .array($0.1.map { .string($0) })) })))
        }
        var response = Response.json(.object(body), status: status.rawValue)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The statuses this server answers with on failure.
    public enum Status: Int, Sendable {
        case badRequest = 400
        case unauthorized = 401
        case forbidden = 403
        case notFound = 404
        case methodNotAllowed = 405
        case conflict = 409
        case payloadTooLarge = 413
        case unsupportedMediaType = 415
        case unprocessableEntity = 422
        case tooManyRequests = 429
        case internalServerError = 500
        case serviceUnavailable = 503
    }
}
