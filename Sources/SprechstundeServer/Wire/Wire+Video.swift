import HTTPServer
import Sprechstunde

/// JSON of the video pages' session API and signaling (docs/video.md).
extension Wire {
    /// A participant as the contract's `postMessage` events describe one.
    static func videoParticipant(_ participant: CallParticipant) -> JSON {
        ["id": .int(participant.userID), "name": .string(participant.name), "role": .string(participant.role.rawValue)]
    }

    static func videoCall(_ call: Call) -> JSON {
        [
            "id": .int(call.id), "name": .string(call.description), "begin": .int(call.begin),
            "duration": .int(call.duration), "ends_at": .int(call.plannedEnd),
            "extendable": .bool(call.extendable == true),
            "status": .int(call.status.rawValue),
        ]
    }

    static func iceServers(_ servers: [IceConfiguration.Server]) -> JSON {
        .array(
            servers.map { server in
                var members: [(String, JSON)] = [("urls", .array(server.urls.map { .string($0) }))]
                if let username = server.username { members.append(("username", .string(username))) }
                if let credential = server.credential { members.append(("credential", .string(credential))) }
                return .object(members)
            })
    }

    static func videoSession(_ admission: VideoEntryService.Admission, ice: IceConfiguration, privacyURL: String?)
        -> JSON
    {
        var members: [(String, JSON)] = []
        if let token = admission.token { members.append(("token", .string(token))) }
        members += [
            ("expires_at", .int(admission.session.expiresAt)),
            ("call", videoCall(admission.call)),
            ("self", videoParticipant(admission.participant)),
            ("doctor", .bool(admission.isDoctor)),
            ("waiting_area", .bool(admission.session.waitingArea)),
            (
                "consent",
                [
                    "data_agreed": .bool(admission.participant.dataAgreed),
                    "descriptions_agreed": .bool(admission.participant.descriptionsAgreed),
                ]
            ),
            ("ice_servers", iceServers(admission.iceServers)),
            ("ice_transport_policy", .string(ice.transportPolicy)),
            ("privacy_url", privacyURL.map { .string($0) } ?? .null),
        ]
        return .object(members)
    }
}
