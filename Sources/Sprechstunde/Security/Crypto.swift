import CSodium

/// The cryptography the domain needs, all from libsodium.
public enum Crypto {
    /// libsodium must be initialised once before use; `sodium_init` is idempotent and thread-safe.
    private static let initialised: Bool = sodium_init() >= 0

    private static func ensureInitialised() {
        precondition(initialised, "libsodium could not be initialised")
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialised()
        var bytes = [UInt8](repeating: 0, count: count)
        randombytes_buf(&bytes, count)
        return bytes
    }

    /// A uniformly random integer in 0..<upperBound.
    public static func randomInt(below upperBound: UInt32) -> UInt32 {
        ensureInitialised()
        return randombytes_uniform(upperBound)
    }

    static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// Letters and digits only, drawn uniformly: log2(62) ≈ 5.95 bits per character.
    public static func randomAlphanumeric(_ length: Int) -> String {
        String((0..<length).map { _ in alphanumerics[Int(randomInt(below: UInt32(alphanumerics.count)))] })
    }

    public static func sha256(_ text: String) -> [UInt8] {
        ensureInitialised()
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        let bytes = Array(text.utf8)
        crypto_hash_sha256(&digest, bytes, UInt64(bytes.count))
        return digest
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return out
    }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        ensureInitialised()
        guard a.count == b.count else { return false }
        return sodium_memcmp(a, b, a.count) == 0
    }

    /// Argon2id cost. `interactive` is libsodium's recommendation for sign-in; tests may use
    /// `minimal` to stay fast (the algorithm is the same).
    public struct PasswordCost: Sendable {
        let opsLimit: UInt64
        let memLimit: Int
        public static let interactive = PasswordCost(
            opsLimit: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE), memLimit: Int(crypto_pwhash_MEMLIMIT_INTERACTIVE))
        public static let minimal = PasswordCost(
            opsLimit: UInt64(crypto_pwhash_OPSLIMIT_MIN), memLimit: Int(crypto_pwhash_MEMLIMIT_MIN))
    }

    /// An Argon2id hash in libsodium's self-describing string format.
    public static func hashPassword(_ password: String, cost: PasswordCost) -> String {
        ensureInitialised()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
        let bytes = Array(password.utf8CString.dropLast())
        let status = crypto_pwhash_str_alg(
            &out, bytes, UInt64(bytes.count), cost.opsLimit, cost.memLimit, crypto_pwhash_ALG_ARGON2ID13)
        precondition(status == 0, "Argon2id ran out of memory")
        return String(decoding: out.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func verifyPassword(_ password: String, hash: String) -> Bool {
        ensureInitialised()
        let bytes = Array(password.utf8CString.dropLast())
        return hash.withCString { crypto_pwhash_str_verify($0, bytes, UInt64(bytes.count)) == 0 }
    }
}
