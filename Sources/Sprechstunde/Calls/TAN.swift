import Foundation

/// TANs: `XXXX-XXXX-XXXX` from letters (both cases) and digits, drawn from libsodium's random
/// source: 12 symbols of 62, about 71 bits.
public enum TAN {
    public static let groups = 3
    public static let groupLength = 4

    public static func generate() -> String {
        (0..<groups).map { _ in Crypto.randomAlphanumeric(groupLength) }.joined(separator: "-")
    }

    /// Whether `text` has the shape of a TAN (checked before any lookup).
    public static func isWellFormed(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == groups
            && parts.allSatisfy {
                $0.count == groupLength && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
            }
    }

    /// Bits of entropy of one TAN.
    public static var entropyBits: Double { Double(groups * groupLength) * log2(62) }

    /// Lookups go by this hash, never by comparing TANs.
    public static func hash(_ tan: String) -> [UInt8] { Crypto.sha256("tan:" + tan) }
}
