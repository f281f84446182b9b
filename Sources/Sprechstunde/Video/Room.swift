/// Who is in a call's room and who waits to be let in: the pure state machine behind the
/// signaling server, without sockets or clocks, so that its rules are tested on their own.
///
/// Rules: one presence per participant (a second page of the same participant replaces the
/// first); a patient from the waiting area enters only when a doctor in the room admits them,
/// so nobody who arrives before the doctor is let in automatically; waiting patients stay when
/// doctors leave; a session once admitted goes straight back in after a reload.
public struct Room: Sendable {
    public struct Member: Sendable, Equatable {
        /// Random per page; the address of signaling messages.
        public var peerID: String
        public var sessionID: VideoSession.ID
        public var participant: CallParticipant
        /// Arrived (in the room or in the waiting area) at.
        public var since: Int64

        public init(peerID: String, sessionID: VideoSession.ID, participant: CallParticipant, since: Int64) {
            self.peerID = peerID
            self.sessionID = sessionID
            self.participant = participant
            self.since = since
        }

        public var isDoctor: Bool { participant.role != .tanuser }
    }

    public enum Arrival: Sendable, Equatable {
        /// In the call with `others`.
        case inCall(others: [Member])
        case waiting
    }

    public enum Departure: Sendable, Equatable {
        case leftCall(Member)
        case leftWaiting(Member)
    }

    public enum Refusal: Error, Sendable, Equatable {
        case onlyDoctorsInTheCall
        case notWaiting
    }

    public let callID: Call.ID
    public private(set) var inCall: [Member] = []
    public private(set) var waiting: [Member] = []
    public private(set) var admittedSessions: Set<VideoSession.ID> = []

    public init(callID: Call.ID) {
        self.callID = callID
    }

    public var isEmpty: Bool { inCall.isEmpty && waiting.isEmpty }
    public var doctorsInCall: [Member] { inCall.filter(\.isDoctor) }

    public func member(_ peerID: String) -> Member? {
        inCall.first { $0.peerID == peerID } ?? waiting.first { $0.peerID == peerID }
    }

    public func isInCall(_ peerID: String) -> Bool { inCall.contains { $0.peerID == peerID } }

    /// The member of the same participant, which an arrival replaces.
    public func presence(of userID: User.ID) -> Member? {
        inCall.first { $0.participant.userID == userID } ?? waiting.first { $0.participant.userID == userID }
    }

    /// A page arrives. Any earlier presence of the same participant must have departed first
    /// (`presence(of:)`, `depart`), so that its leaving is reported.
    public mutating func arrive(_ member: Member, throughWaitingArea: Bool) -> Arrival {
        precondition(presence(of: member.participant.userID) == nil, "depart the earlier presence first")
        if throughWaitingArea && !admittedSessions.contains(member.sessionID) {
            waiting.append(member)
            return .waiting
        }
        let others = inCall
        inCall.append(member)
        return .inCall(others: others)
    }

    /// A doctor in the call lets a waiting patient in; returns the patient and who was already there.
    public mutating func admit(_ peerID: String, by doctorPeerID: String) throws(Refusal) -> (Member, others: [Member])
    {
        guard inCall.contains(where: { $0.peerID == doctorPeerID && $0.isDoctor }) else {
            throw .onlyDoctorsInTheCall
        }
        guard let index = waiting.firstIndex(where: { $0.peerID == peerID }) else { throw .notWaiting }
        let member = waiting.remove(at: index)
        admittedSessions.insert(member.sessionID)
        let others = inCall
        inCall.append(member)
        return (member, others)
    }

    /// A doctor in the call turns a waiting patient away.
    public mutating func decline(_ peerID: String, by doctorPeerID: String) throws(Refusal) -> Member {
        guard inCall.contains(where: { $0.peerID == doctorPeerID && $0.isDoctor }) else {
            throw .onlyDoctorsInTheCall
        }
        guard let index = waiting.firstIndex(where: { $0.peerID == peerID }) else { throw .notWaiting }
        return waiting.remove(at: index)
    }

    /// A page left, vanished or was replaced.
    public mutating func depart(_ peerID: String) -> Departure? {
        if let index = inCall.firstIndex(where: { $0.peerID == peerID }) {
            return .leftCall(inCall.remove(at: index))
        }
        if let index = waiting.firstIndex(where: { $0.peerID == peerID }) {
            return .leftWaiting(waiting.remove(at: index))
        }
        return nil
    }

    /// Everyone, for closing the room when the call ends.
    public mutating func removeAll() -> [Member] {
        defer {
            inCall = []
            waiting = []
        }
        return inCall + waiting
    }
}
