import Testing

@testable import Sprechstunde

@Suite("Throttle")
struct ThrottleTests {
    @Test("below the limit nobody waits")
    func belowLimit() {
        let throttle = Throttle(limit: 3, window: 60)
        #expect(throttle.retryAfter("k", now: 1000) == nil)
        throttle.recordFailure("k", now: 1000)
        throttle.recordFailure("k", now: 1010)
        #expect(throttle.retryAfter("k", now: 1010) == nil)
    }

    @Test("at the limit the key waits until the oldest failure leaves the window")
    func atLimit() {
        let throttle = Throttle(limit: 3, window: 60)
        throttle.recordFailure("k", now: 1000)
        throttle.recordFailure("k", now: 1010)
        throttle.recordFailure("k", now: 1020)
        #expect(throttle.retryAfter("k", now: 1020) == 40)
        #expect(throttle.retryAfter("k", now: 1059) == 1)
        // The failure at 1000 has aged out: two remain, below the limit.
        #expect(throttle.retryAfter("k", now: 1060) == nil)
    }

    @Test("Retry-After is never less than one second")
    func atLeastOneSecond() {
        let throttle = Throttle(limit: 1, window: 10)
        throttle.recordFailure("k", now: 100)
        #expect(throttle.retryAfter("k", now: 100) == 10)
        #expect(throttle.retryAfter("k", now: 109) == 1)
        #expect(throttle.retryAfter("k", now: 110) == nil)
    }

    @Test("more failures keep the key blocked from the latest ones")
    func slidingWindow() {
        let throttle = Throttle(limit: 2, window: 100)
        for time in stride(from: Int64(0), through: 300, by: 50) { throttle.recordFailure("k", now: time) }
        // Failures at 250 and 300 count: wait until 250 + 100.
        #expect(throttle.retryAfter("k", now: 300) == 50)
    }

    @Test("window expiry with an injected time")
    func windowExpiry() {
        let throttle = Throttle(limit: 2, window: 900)
        throttle.recordFailure("k", now: 0)
        throttle.recordFailure("k", now: 0)
        #expect(throttle.retryAfter("k", now: 899) == 1)
        #expect(throttle.retryAfter("k", now: 900) == nil)
        // Once expired, one new failure is not enough to block again.
        throttle.recordFailure("k", now: 901)
        #expect(throttle.retryAfter("k", now: 901) == nil)
    }

    @Test("reset forgets a key")
    func reset() {
        let throttle = Throttle(limit: 2, window: 60)
        throttle.recordFailure("k", now: 1)
        throttle.recordFailure("k", now: 2)
        #expect(throttle.retryAfter("k", now: 3) != nil)
        throttle.reset("k")
        #expect(throttle.retryAfter("k", now: 3) == nil)
        throttle.recordFailure("k", now: 4)
        #expect(throttle.retryAfter("k", now: 4) == nil)
    }

    @Test("keys are independent")
    func independentKeys() {
        let throttle = Throttle(limit: 1, window: 60)
        throttle.recordFailure("account:a@b.de", now: 1)
        #expect(throttle.retryAfter("account:a@b.de", now: 1) != nil)
        #expect(throttle.retryAfter("account:c@d.de", now: 1) == nil)
        throttle.reset("account:c@d.de")
        #expect(throttle.retryAfter("account:a@b.de", now: 1) != nil)
    }

    @Test("a flood of distinct keys does not unblock a blocked key")
    func boundedMemory() {
        let throttle = Throttle(limit: 2, window: 60, maximumKeys: 5)
        throttle.recordFailure("victim", now: 10)
        throttle.recordFailure("victim", now: 10)
        for index in 0..<50 { throttle.recordFailure("flood\(index)", now: 20) }
        #expect(throttle.retryAfter("victim", now: 20) == 50)
    }
}

@Suite("Crypto")
struct CryptoTests {
    @Test("a password hash is Argon2id and verifies")
    func passwordHash() {
        let hash = Crypto.hashPassword("arzt5@code-beispiele.de", cost: .minimal)
        #expect(hash.hasPrefix("$argon2id$"))
        #expect(Crypto.verifyPassword("arzt5@code-beispiele.de", hash: hash))
        #expect(!Crypto.verifyPassword("arzt5@code-beispiele.dE", hash: hash))
        #expect(!Crypto.verifyPassword("", hash: hash))
        #expect(!Crypto.verifyPassword("arzt5@code-beispiele.de ", hash: hash))
    }

    @Test("the hash does not contain the password and is salted")
    func salted() {
        let first = Crypto.hashPassword("geheim123", cost: .minimal)
        let second = Crypto.hashPassword("geheim123", cost: .minimal)
        #expect(first != second)
        #expect(!first.contains("geheim123"))
        #expect(Crypto.verifyPassword("geheim123", hash: second))
    }

    @Test("non-ASCII passwords")
    func unicodePassword() {
        let hash = Crypto.hashPassword("Grüße-😀-Passwort", cost: .minimal)
        #expect(Crypto.verifyPassword("Grüße-😀-Passwort", hash: hash))
        #expect(!Crypto.verifyPassword("Grusse-😀-Passwort", hash: hash))
    }

    @Test("a malformed hash never verifies")
    func malformedHash() {
        #expect(!Crypto.verifyPassword("x", hash: ""))
        #expect(!Crypto.verifyPassword("x", hash: "$argon2id$garbage"))
        #expect(!Crypto.verifyPassword("password", hash: "password"))
    }

    @Test("the interactive cost produces a verifiable Argon2id hash too")
    func interactiveCost() {
        let hash = Crypto.hashPassword("interactive", cost: .interactive)
        #expect(hash.hasPrefix("$argon2id$"))
        #expect(Crypto.verifyPassword("interactive", hash: hash))
    }

    @Test("random alphanumerics: length and charset", arguments: [0, 1, 20, 48, 1000])
    func randomAlphanumeric(_ length: Int) {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let value = Crypto.randomAlphanumeric(length)
        #expect(value.count == length)
        #expect(value.allSatisfy { alphabet.contains($0) })
    }

    @Test("random alphanumerics use all 62 symbols and differ")
    func randomCoverage() {
        let sample = Crypto.randomAlphanumeric(20_000)
        let expected = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        #expect(Set(sample) == expected)
        #expect(Crypto.randomAlphanumeric(48) != Crypto.randomAlphanumeric(48))
    }

    @Test("random bytes and integers")
    func randomBytes() {
        #expect(Crypto.randomBytes(32).count == 32)
        #expect(Crypto.randomBytes(32) != Crypto.randomBytes(32))
        #expect((0..<1000).allSatisfy { _ in Crypto.randomInt(below: 7) < 7 })
    }

    @Test("SHA-256 of known inputs")
    func sha256() {
        #expect(Crypto.hex(Crypto.sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Crypto.hex(Crypto.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Crypto.sha256("abc").count == 32)
    }

    @Test("hex")
    func hex() {
        #expect(Crypto.hex([]) == "")
        #expect(Crypto.hex([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
    }

    @Test("constant-time comparison")
    func constantTimeEqual() {
        #expect(Crypto.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(Crypto.constantTimeEqual([], []))
        #expect(!Crypto.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.constantTimeEqual([0, 2, 3], [1, 2, 3]))
        #expect(!Crypto.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!Crypto.constantTimeEqual([], [0]))
        let digest = Crypto.sha256("token")
        #expect(Crypto.constantTimeEqual(digest, Crypto.sha256("token")))
        #expect(!Crypto.constantTimeEqual(digest, Crypto.sha256("token2")))
    }
}
