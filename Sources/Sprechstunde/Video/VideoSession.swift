/// A page's right to be in one call as one participant, obtained by redeeming a TAN, a
/// one-time password or an ak user's password. The browser keeps only the opaque token; the
/// server keeps its hash, so a database leak lets nobody into a call.
public struct VideoSession: Sendable, Equatable {
    public typealias ID = Int64

    public var id: ID
    public var callID: Call.ID
    public var userID: User.ID
    /// The TAN used to enter, for the call log (patients only).
    public var tan: String?
    /// Entered through `/video/login`: waits until a doctor admits.
    public var waitingArea: Bool
    public var expiresAt: Int64

    public init(id: ID, callID: Call.ID, userID: User.ID, tan: String?, waitingArea: Bool, expiresAt: Int64) {
        self.id = id
        self.callID = callID
        self.userID = userID
        self.tan = tan
        self.waitingArea = waitingArea
        self.expiresAt = expiresAt
    }
}

public protocol VideoSessionStore: Sendable {
    func insertVideoSession(
        tokenHash: [UInt8], callID: Call.ID, userID: User.ID, tan: String?, waitingArea: Bool, expiresAt: Int64,
        now: Int64
    ) throws -> VideoSession
    /// The unexpired session with this token hash.
    func videoSession(tokenHash: [UInt8], now: Int64) throws -> VideoSession?
    /// Whether the session still exists and has not expired: locking or deleting its account,
    /// a new password or deleting the company removes it (with the account's API tokens).
    func videoSessionIsLive(id: Int64, now: Int64) throws -> Bool
    /// Records a TAN user's consent; consent once given is never taken back here.
    func recordConsent(userID: User.ID, dataAgreed: Bool, descriptionsAgreed: Bool, now: Int64) throws
    func purgeExpiredVideoSessions(before: Int64) throws -> Int
}
