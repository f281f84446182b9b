/// Entering a call from the video pages: a TAN, a one-time password or an ak user's password
/// becomes a `VideoSession`, whose token the page keeps in `sessionStorage`.
public final class VideoEntryService: Sendable {
    public struct Settings: Sendable {
        /// How long a page's session lasts (a reload within it needs no new secret).
        public var sessionLifetime: Int64 = 12 * 3600
        public var ice = IceConfiguration()
        public init() {}
    }

    /// How the page enters.
    public enum Credential: Sendable {
        /// `/video/{callId}?tan=` (`callID` given: straight in) or `/video/login?tan=` (nil: waiting area).
        case tan(String, callID: Call.ID?)
        case oneTimePassword(String, callID: Call.ID)
        case password(email: String, password: String, callID: Call.ID)
    }

    /// A session and what the page needs to show.
    public struct Admission: Sendable {
        /// Only right after entering; nil when a session is looked up again.
        public var token: String?
        public var session: VideoSession
        public var call: Call
        public var participant: CallParticipant
        public var iceServers: [IceConfiguration.Server]

        /// ak users in the call (caller, callee) admit patients; TAN users never do.
        public var isDoctor: Bool { participant.role != .tanuser }
    }

    let store: any Store
    let clock: Clock
    let settings: Settings
    let access: CallAccessService
    let auth: AuthService

    public init(
        store: any Store, clock: Clock = .system, settings: Settings = Settings(), access: CallAccessService,
        auth: AuthService
    ) {
        self.store = store
        self.clock = clock
        self.settings = settings
        self.access = access
        self.auth = auth
    }

    public var ice: IceConfiguration { settings.ice }

    /// Redeems a credential for a session. One-time passwords are spent here.
    public func enter(_ credential: Credential, from address: String) throws -> Admission {
        let entry: CallAccessService.Entry
        var tan: String?
        var waitingArea = false
        switch credential {
        case .tan(let code, let callID):
            let normalised = code.trimmingWhitespace
            entry = try access.checkTAN(normalised, callID: callID, from: address)
            tan = normalised
            waitingArea = callID == nil
        case .oneTimePassword(let token, let callID):
            entry = try access.redeemOneTimePassword(token, callID: callID, from: address)
        case .password(let email, let password, let callID):
            let user = try auth.verifyPassword(email: email, password: password, from: address)
            // Whether the call exists, ended or was deleted is told only to its participants.
            guard let call = try store.callIncludingDeleted(id: callID), let participant = call.participant(user.id),
                participant.role != .tanuser
            else { throw DomainError.forbidden("You do not take part in this call.") }
            if call.deletedAt != nil { throw CallAccessService.Refusal.callDeleted }
            if call.status == .ended { throw CallAccessService.Refusal.callEnded }
            entry = CallAccessService.Entry(call: call, participant: participant)
        }
        let token = Crypto.randomAlphanumeric(48)
        let now = clock.now()
        let session = try store.insertVideoSession(
            tokenHash: Crypto.sha256(token), callID: entry.call.id, userID: entry.participant.userID, tan: tan,
            waitingArea: waitingArea, expiresAt: now + settings.sessionLifetime, now: now)
        return Admission(
            token: token, session: session, call: entry.call, participant: entry.participant,
            iceServers: settings.ice.servers(forSession: session.id, now: now))
    }

    /// The session behind a page's token, if it may still be in its call.
    public func session(token: String?) throws -> Admission {
        guard let token, !token.isEmpty, token.count <= 256,
            let session = try store.videoSession(tokenHash: Crypto.sha256(token), now: clock.now())
        else { throw DomainError(.unauthenticated, "The video session has expired; open the link again.") }
        guard let call = try store.call(id: session.callID) else { throw CallAccessService.Refusal.callDeleted }
        if call.status == .ended { throw CallAccessService.Refusal.callEnded }
        guard let participant = call.participant(session.userID) else {
            throw DomainError.forbidden("You no longer take part in this call.")
        }
        if participant.role == .tanuser, let until = participant.tanValidUntil, until < clock.now() {
            throw CallAccessService.Refusal.tanExpired
        }
        return Admission(
            token: nil, session: session, call: call, participant: participant,
            iceServers: settings.ice.servers(forSession: session.id, now: clock.now()))
    }

    /// The patient's consent from the waiting area.
    public func recordConsent(token: String?, dataAgreed: Bool, descriptionsAgreed: Bool) throws -> Admission {
        var admission = try session(token: token)
        guard admission.participant.role == .tanuser else {
            throw DomainError.forbidden("Only patients give consent here.")
        }
        try store.recordConsent(
            userID: admission.session.userID, dataAgreed: dataAgreed, descriptionsAgreed: descriptionsAgreed,
            now: clock.now())
        admission.participant.dataAgreed = admission.participant.dataAgreed || dataAgreed
        admission.participant.descriptionsAgreed = admission.participant.descriptionsAgreed || descriptionsAgreed
        return admission
    }
}
