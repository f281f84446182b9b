import CGnuTLS

/// The STUN and TURN servers a page may use, with TURN credentials issued per session in the
/// TURN REST scheme that coturn's `use-auth-secret` checks: the username is
/// `"<expiry>:<session>"`, the credential base64(HMAC-SHA1(shared secret, username)). Nothing
/// is stored: coturn recomputes the HMAC and refuses expired usernames.
public struct IceConfiguration: Sendable, Equatable {
    /// `stun:` URLs, handed out without credentials.
    public var stunURLs: [String] = []
    /// `turn:`/`turns:` URLs; used only with a `turnSecret`.
    public var turnURLs: [String] = []
    public var turnSecret: String?
    /// Seconds a TURN credential stays valid (the contract: at most 24 h).
    public var turnCredentialLifetime: Int64 = 2 * 3600
    /// `"all"`, or `"relay"` to force every call through TURN.
    public var transportPolicy: String = "all"

    public static let maximumCredentialLifetime: Int64 = 24 * 3600

    public init() {}

    public struct Server: Sendable, Equatable {
        public var urls: [String]
        public var username: String?
        public var credential: String?
    }

    public func servers(forSession sessionID: VideoSession.ID, now: Int64) -> [Server] {
        var servers: [Server] = []
        if !stunURLs.isEmpty { servers.append(Server(urls: stunURLs)) }
        if !turnURLs.isEmpty, let turnSecret {
            let lifetime = min(max(turnCredentialLifetime, 60), Self.maximumCredentialLifetime)
            let username = "\(now + lifetime):s\(sessionID)"
            servers.append(
                Server(
                    urls: turnURLs, username: username,
                    credential: Self.turnPassword(secret: turnSecret, username: username)))
        }
        return servers
    }

    /// base64(HMAC-SHA1(secret, username)).
    public static func turnPassword(secret: String, username: String) -> String {
        var digest = [UInt8](repeating: 0, count: 20)
        let key = Array(secret.utf8)
        let message = Array(username.utf8)
        let status = gnutls_hmac_fast(GNUTLS_MAC_SHA1, key, key.count, message, message.count, &digest)
        precondition(status == 0, "GnuTLS HMAC-SHA1 failed")
        return Base64.encode(digest)
    }
}
