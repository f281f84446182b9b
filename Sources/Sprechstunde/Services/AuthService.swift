/// Sign-in for people and machine clients, bearer tokens, and who a token belongs to.
public final class AuthService: Sendable {
    public struct Settings: Sendable {
        /// Lifetime of a bearer token in seconds.
        public var tokenLifetime: Int64 = 86_400
        /// Failed sign-ins allowed per account within `throttleWindow`.
        public var failureLimit: Int = 10
        /// Failed sign-ins allowed per client address within `throttleWindow` (higher: a
        /// practice's staff may share one address).
        public var addressFailureLimit: Int = 50
        public var throttleWindow: Int64 = 15 * 60
        public var passwordCost: Crypto.PasswordCost = .interactive
        public init() {}
    }

    let store: any Store
    let clock: Clock
    let settings: Settings
    let accountThrottle: Throttle
    let addressThrottle: Throttle
    /// Verified against when the account does not exist, so both failures cost the same time.
    let decoyHash: String

    public init(store: any Store, clock: Clock = .system, settings: Settings = Settings()) {
        self.store = store
        self.clock = clock
        self.settings = settings
        self.accountThrottle = Throttle(limit: settings.failureLimit, window: settings.throttleWindow)
        self.addressThrottle = Throttle(limit: settings.addressFailureLimit, window: settings.throttleWindow)
        self.decoyHash = Crypto.hashPassword(Crypto.randomAlphanumeric(24), cost: settings.passwordCost)
    }

    static let wrongCredentials = DomainError(.unauthenticated, "The e-mail address or password is wrong.")
    static let wrongClientCredentials = DomainError(.unauthenticated, "The client_id or pw is wrong.")

    /// `POST /api/v2/auth`.
    public func signIn(email: String, password: String, from address: String) throws -> IssuedToken {
        let user = try verifyPassword(email: email, password: password, from: address)
        return try issueToken(for: .user(user.id))
    }

    /// Checks an ak user's e-mail and password, throttled like every sign-in: the API's and the
    /// video pages' sign-in share the counters, so neither is a way around the other.
    public func verifyPassword(email: String, password: String, from address: String) throws -> User {
        let normalised = email.trimmingWhitespace.lowercased()
        let account = "account:" + normalised
        try checkThrottle(account: account, address: address)
        let found = try store.account(email: normalised)
        let now = clock.now()
        let passwordMatches = Crypto.verifyPassword(password, hash: found?.passwordHash ?? decoyHash)
        guard let (user, hash) = found, hash != nil, passwordMatches, user.isActive(at: now), user.role >= .doc else {
            recordFailure(account: account, address: address, now: now)
            throw Self.wrongCredentials
        }
        accountThrottle.reset(account)
        return user
    }

    /// `POST /api/v2/client`.
    public func clientSignIn(clientID: String, secret: String, from address: String) throws -> IssuedToken {
        let account = "client:" + clientID
        try checkThrottle(account: account, address: address)
        let found = try store.client(clientID: clientID)
        let now = clock.now()
        let secretMatches = Crypto.verifyPassword(secret, hash: found?.secretHash ?? decoyHash)
        guard let (client, _) = found, secretMatches, client.revokedAt == nil else {
            recordFailure(account: account, address: address, now: now)
            throw Self.wrongClientCredentials
        }
        accountThrottle.reset(account)
        return try issueToken(for: .client(client.id))
    }

    /// Who the bearer token belongs to; `.unauthenticated` if nobody (any more).
    public func authenticate(token: String?) throws -> Principal {
        guard let token, !token.isEmpty, token.count <= 256 else {
            throw DomainError(.unauthenticated, "Sign in first: send 'Authorization: Bearer <access_token>'.")
        }
        let now = clock.now()
        if let principal = try store.tokenHolder(hash: Crypto.sha256(token), now: now)?.principal(at: now) {
            return principal
        }
        throw DomainError(.unauthenticated, "The access token is invalid or has expired; sign in again.")
    }

    /// `POST /api/v2/auth/logout`: the token stops working at once.
    public func signOut(token: String) throws {
        try store.revokeToken(hash: Crypto.sha256(token), now: clock.now())
    }

    private func recordFailure(account: String, address: String, now: Int64) {
        accountThrottle.recordFailure(account, now: now)
        addressThrottle.recordFailure(address, now: now)
    }

    private func checkThrottle(account: String, address: String) throws {
        let now = clock.now()
        let waits = [accountThrottle.retryAfter(account, now: now), addressThrottle.retryAfter(address, now: now)]
        if let wait = waits.compactMap({ $0 }).max() {
            throw DomainError(
                .throttled, "Too many failed sign-in attempts. Try again in \(wait) seconds.", retryAfter: wait)
        }
    }

    private func issueToken(for owner: TokenOwner) throws -> IssuedToken {
        // 48 characters from 62 symbols: about 286 bits.
        let value = Crypto.randomAlphanumeric(48)
        let now = clock.now()
        let expiresAt = now + settings.tokenLifetime
        try store.insertToken(hash: Crypto.sha256(value), owner: owner, expiresAt: expiresAt, now: now)
        return IssuedToken(value: value, expiresIn: settings.tokenLifetime, validUntil: expiresAt)
    }
}
