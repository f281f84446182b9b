/// One notification setting of a user, as `notification_options` on the wire.
public struct NotificationOption: Sendable, Equatable {
    /// The contract's notification ids.
    public enum Kind: Int, Sendable, CaseIterable {
        case emailChannel = 1001
        case smsChannel = 1002
        case appointmentCreated = 2001
        case appointmentChanged = 2002
        case appointmentDeleted = 2003
        case documentReceived = 3001
        case documentSent = 3002
        case documentDeleted = 3003
        case documentExpires = 3004
        case patientEmailInvalid = 4001

        /// Channels carry extra addresses/numbers in `value`.
        public var isChannel: Bool { self == .emailChannel || self == .smsChannel }
    }

    public var kind: Kind
    public var enabled: Bool
    /// Extra e-mail addresses (1001) or phone numbers (1002); empty for the others.
    public var values: [String]

    public init(kind: Kind, enabled: Bool, values: [String] = []) {
        self.kind = kind
        self.enabled = enabled
        self.values = values
    }

    /// Every kind in id order, with the stored setting or the default (off).
    public static func complete(_ stored: [NotificationOption]) -> [NotificationOption] {
        Kind.allCases.map { kind in
            stored.first(where: { $0.kind == kind }) ?? NotificationOption(kind: kind, enabled: false)
        }
    }
}
