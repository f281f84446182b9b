/// Who may enter which call: TANs for patients, one-time passwords for ak users. The video
/// pages call this; `POST /api/ext/createScopedToken` issues the one-time passwords.
public final class CallAccessService: Sendable {
    public struct Settings: Sendable {
        /// One-time passwords are valid this long (the contract: 60 s).
        public var oneTimePasswordLifetime: Int64 = 60
        /// Failed TAN or one-time-password entries per client address within `guessWindow`.
        public var guessLimit = 20
        public var guessWindow: Int64 = 15 * 60
        public init() {}
    }

    /// Why entering failed, in terms the video pages show (`error` event codes of the contract).
    public enum Refusal: String, Sendable, Error {
        case tanInvalid = "tan-invalid"
        case tanExpired = "tan-expired"
        case otpInvalid = "otp-invalid"
        case callDeleted = "call-deleted"
        case callEnded = "call-ended"
        /// The address itself is broken (no call id where one belongs).
        case badLink = "bad-link"
    }

    /// A checked entry: which call, as whom.
    public struct Entry: Sendable, Equatable {
        public var call: Call
        public var participant: CallParticipant
    }

    let store: any Store
    let clock: Clock
    let settings: Settings
    let guesses: Throttle

    public init(store: any Store, clock: Clock = .system, settings: Settings = Settings()) {
        self.store = store
        self.clock = clock
        self.settings = settings
        guesses = Throttle(limit: settings.guessLimit, window: settings.guessWindow)
    }

    // MARK: one-time passwords

    /// `POST /api/ext/createScopedToken`: a one-time password for an ak user of the client's
    /// company who takes part in the call.
    public func createOneTimePassword(as principal: Principal, email: String, scopeType: String, callID: Call.ID) throws
        -> (token: String, validUntil: Int64)
    {
        try Policy.require(principal, .createScopedToken)
        guard case .client(let clientID, let companyID) = principal else { throw DomainError.forbidden() }
        var errors = ValidationErrors()
        if scopeType != "call" { errors.add("scope_type", "scope_type must be \"call\".") }
        try errors.check()
        guard let call = try store.call(id: callID), call.companyID == companyID else {
            throw DomainError.invalid("scope_id", "scope_id \(callID) is not a call of your company.")
        }
        if call.status == .ended { throw DomainError.invalid("scope_id", "call \(callID) has ended.") }
        let now = clock.now()
        guard let (user, _) = try store.account(email: email.normalisedEmail), user.companyID == companyID,
            user.role >= .doc, user.isActive(at: now)
        else { throw DomainError.invalid("email", "email is not an active ak user of your company.") }
        guard let participant = call.participant(user.id), participant.role != .tanuser else {
            throw DomainError.invalid(
                "email", "this user does not take part in call \(callID); add them with additional_callees first.")
        }
        // Letters and digits only, so base64 of it never holds '+' or '/'. 96 symbols: 571 bits.
        let token = Crypto.randomAlphanumeric(96)
        let validUntil = now + settings.oneTimePasswordLifetime
        try store.insertOneTimePassword(
            hash: Crypto.sha256(token), userID: participant.userID, callID: callID, clientID: clientID,
            expiresAt: validUntil, now: now)
        return (token, validUntil)
    }

    /// Reads the `tid` parameter: base64 of the one-time password, with or without `=` padding.
    public static func decodeTid(_ tid: String) -> String? {
        var text = tid.trimmingWhitespace.replacingPercentEscapes
        while text.count % 4 != 0 { text += "=" }
        guard let bytes = Base64.decode(text), let token = String(validating: bytes, as: UTF8.self),
            !token.isEmpty, token.count <= 256, token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { return nil }
        return token
    }

    /// Checks a one-time password without spending it (serving the page; link scanners).
    public func checkOneTimePassword(_ token: String, callID: Call.ID, from address: String) throws -> Entry {
        try countingGuesses(from: address) { try unspentOneTimePassword(token, callID: callID) }
    }

    private func unspentOneTimePassword(_ token: String, callID: Call.ID) throws -> Entry {
        guard let (userID, tokenCallID) = try store.oneTimePassword(hash: Crypto.sha256(token), now: clock.now()),
            tokenCallID == callID,
            // Locking or deleting the account ends its sessions: its unspent one-time passwords too.
            let user = try store.user(id: userID), user.isActive(at: clock.now())
        else { throw Refusal.otpInvalid }
        return try entry(callID: callID, userID: userID)
    }

    /// Spends the one-time password: the first redemption wins, any later one is refused.
    public func redeemOneTimePassword(_ token: String, callID: Call.ID, from address: String) throws -> Entry {
        try countingGuesses(from: address) {
            _ = try unspentOneTimePassword(token, callID: callID)
            guard let (userID, _) = try store.spendOneTimePassword(hash: Crypto.sha256(token), now: clock.now()) else {
                throw Refusal.otpInvalid
            }
            return try entry(callID: callID, userID: userID)
        }
    }

    // MARK: TANs

    /// Where a TAN leads, if it is valid now. `callID` is nil for `/video/login?tan=`.
    public func checkTAN(_ tan: String, callID: Call.ID?, from address: String) throws -> Entry {
        let tan = tan.trimmingWhitespace
        return try countingGuesses(from: address) {
            guard TAN.isWellFormed(tan), let holder = try store.tanHolder(tanHash: TAN.hash(tan)),
                callID == nil || holder.callID == callID
            else { throw Refusal.tanInvalid }
            if holder.callDeleted { throw Refusal.callDeleted }
            if holder.validUntil < clock.now() { throw Refusal.tanExpired }
            return try entry(callID: holder.callID, userID: holder.userID)
        }
    }

    private func entry(callID: Call.ID, userID: User.ID) throws -> Entry {
        guard let call = try store.call(id: callID) else { throw Refusal.callDeleted }
        if call.status == .ended { throw Refusal.callEnded }
        guard let participant = call.participant(userID) else { throw Refusal.tanInvalid }
        return Entry(call: call, participant: participant)
    }

    /// Refuses while an address has guessed wrong too often; counts wrong guesses.
    private func countingGuesses<T>(from address: String, _ body: () throws -> T) throws -> T {
        let now = clock.now()
        if let wait = guesses.retryAfter(address, now: now) {
            throw DomainError(.throttled, "Too many wrong codes. Try again in \(wait) seconds.", retryAfter: wait)
        }
        do {
            return try body()
        } catch let refusal as Refusal {
            if refusal == .tanInvalid || refusal == .otpInvalid { guesses.recordFailure(address, now: now) }
            throw refusal
        }
    }
}

extension String {
    /// "%3D" → "=": the `tid` may arrive percent-encoded once more than needed.
    fileprivate var replacingPercentEscapes: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
