import Foundation
import Testing

@testable import Sprechstunde

@Suite("TANs")
struct TANTests {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    @Test("every TAN has the shape XXXX-XXXX-XXXX of ASCII letters and digits")
    func format() throws {
        let shape = try Regex("^[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}$")
        var upper = false
        var lower = false
        var digit = false
        for _ in 0..<10_000 {
            let tan = TAN.generate()
            #expect(tan.utf8.count == 14, "\(tan)")
            #expect(tan.wholeMatch(of: shape) != nil, "\(tan)")
            #expect(TAN.isWellFormed(tan), "\(tan)")
            for character in tan.unicodeScalars {
                switch character {
                case "A"..."Z": upper = true
                case "a"..."z": lower = true
                case "0"..."9": digit = true
                default: break
                }
            }
        }
        // Both cases and digits occur (each is missing from 10,000 TANs with probability ~0).
        #expect(upper && lower && digit)
    }

    @Test("a TAN carries at least 64 bits of entropy")
    func entropy() {
        #expect(TAN.entropyBits >= 64)
        // 12 symbols drawn from 62.
        #expect(abs(TAN.entropyBits - 12 * log2(62)) < 1e-9)
        #expect(TAN.groups * TAN.groupLength == 12)
    }

    @Test("100,000 TANs are all different")
    func uniqueness() {
        var seen = Set<String>()
        seen.reserveCapacity(100_000)
        for _ in 0..<100_000 { seen.insert(TAN.generate()) }
        #expect(seen.count == 100_000)
    }

    @Test("the characters are spread evenly over all 62 symbols")
    func distribution() {
        var counts: [Character: Int] = [:]
        let draws = 20_000
        for _ in 0..<draws {
            for character in TAN.generate() where character != "-" { counts[character, default: 0] += 1 }
        }
        // Nothing outside the alphabet, and every symbol of it used.
        #expect(Set(counts.keys) == Set(Self.alphabet))
        let total = Double(draws * 12)
        let expected = total / 62
        let chiSquare = Self.alphabet.reduce(0.0) { sum, symbol in
            let observed = Double(counts[symbol] ?? 0)
            return sum + (observed - expected) * (observed - expected) / expected
        }
        // 61 degrees of freedom: mean 61, standard deviation 11. 250 lies 17 deviations out, so a
        // fair generator never fails, while a modulo bias (byte % 62 favours 8 symbols by 25 %)
        // scores about 1,500 here and a missing symbol far more.
        #expect(chiSquare < 250, "chi-square \(chiSquare)")
        // No position of the TAN is stuck either: each position sees many different symbols.
        var perPosition = Array(repeating: Set<Character>(), count: 14)
        for _ in 0..<2_000 {
            for (index, character) in TAN.generate().enumerated() { perPosition[index].insert(character) }
        }
        for index in [4, 9] { #expect(perPosition[index] == ["-"]) }
        for index in (0..<14) where index != 4 && index != 9 {
            #expect(perPosition[index].count > 55, "position \(index): \(perPosition[index].count) symbols")
        }
    }

    @Test(
        "well-formed TANs are accepted",
        arguments: ["abcd-EFGH-1234", "AAAA-AAAA-AAAA", "0000-0000-0000", "zZ9a-Qq00-xY7w"])
    func wellFormed(tan: String) {
        #expect(TAN.isWellFormed(tan))
    }

    @Test(
        "anything else is rejected before a lookup",
        arguments: [
            "", "abcd-efgh-ijk", "abcd-efgh-ijklm", "abcdefghijkl", "abcd-efgh-ijkl-mnop", "abcd_efgh_ijkl",
            "abcd-efgh-ijk!", "abcd-efgh-ij l", " abcd-efgh-ijkl", "abcd-efgh-ijkl ", "abcd-efgh-ijkl\n",
            "abcd--efgh-ijkl", "-abcd-efgh-ijkl", "abcd-efgh-", "----", "--",
            // Letters and digits outside ASCII.
            "äbcd-efgh-ijkl", "abcd-efgh-ijkß", "abcd-efgh-123\u{0663}", "abcd-efgh-123\u{FF11}",
            "abcd-efgh-ijkl\u{0301}", "abcd\u{2010}efgh\u{2010}ijkl",
        ])
    func malformed(tan: String) {
        #expect(!TAN.isWellFormed(tan))
    }

    @Test("the lookup hash is stable per TAN and differs between TANs")
    func hash() {
        let tan = "abcd-EFGH-1234"
        #expect(TAN.hash(tan) == TAN.hash(tan))
        #expect(TAN.hash(tan).count == 32)
        #expect(TAN.hash(tan) != TAN.hash("abcd-efgh-1234"))
        #expect(TAN.hash(tan) != TAN.hash("abcd-EFGH-1235"))
        // Not the bare SHA-256 of the TAN: the hash is domain-separated from other tokens.
        #expect(TAN.hash(tan) != Crypto.sha256(tan))
        var hashes = Set<[UInt8]>()
        var tans = Set<String>()
        for _ in 0..<2_000 {
            let tan = TAN.generate()
            tans.insert(tan)
            hashes.insert(TAN.hash(tan))
        }
        #expect(hashes.count == tans.count)
    }
}

@Suite("tid decoding")
struct TidTests {
    private func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test("a one-time password comes back from its base64, with or without padding")
    func roundTrip() {
        for length in [1, 2, 3, 4, 5, 95, 96, 97] {
            let token = Crypto.randomAlphanumeric(length)
            let encoded = base64(token)
            #expect(CallAccessService.decodeTid(encoded) == token, "\(encoded)")
            let unpadded = String(encoded.prefix { $0 != "=" })
            #expect(CallAccessService.decodeTid(unpadded) == token, "\(unpadded)")
        }
        #expect(CallAccessService.decodeTid("YWJjZA==") == "abcd")
        #expect(CallAccessService.decodeTid("YWJjZA") == "abcd")
        #expect(CallAccessService.decodeTid("YWJjZGU=") == "abcde")
        #expect(CallAccessService.decodeTid("YWJjZGU") == "abcde")
        #expect(CallAccessService.decodeTid("YWJj") == "abc")
        #expect(CallAccessService.decodeTid("  YWJjZA==\n") == "abcd")
    }

    @Test("a percent-encoded '=' is understood")
    func percentEncoded() {
        #expect(CallAccessService.decodeTid("YWJjZA%3D%3D") == "abcd")
        #expect(CallAccessService.decodeTid("YWJjZA%3d%3d") == "abcd")
        #expect(CallAccessService.decodeTid("YWJjZGU%3D") == "abcde")
    }

    @Test("the base64 of a letters-and-digits token has no '+', '/' or '=' to mangle in a URL")
    func urlSafe() {
        for _ in 0..<500 {
            let token = Crypto.randomAlphanumeric(96)
            let encoded = base64(token)
            #expect(encoded.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, "\(encoded)")
            #expect(CallAccessService.decodeTid(encoded) == token)
        }
    }

    @Test(
        "payloads other than letters and digits are refused",
        arguments: ["abc+def", "abc def", "ab-cd", "ab_cd", "abc/", "abc=", "äbc", "abc\n", "a\u{0}b", "%3D"])
    func nonAlphanumericPayload(payload: String) {
        #expect(CallAccessService.decodeTid(base64(payload)) == nil, "\(payload)")
    }

    @Test(
        "garbage is refused",
        arguments: [
            "", "   ", "!!!!", "YWJj*ZA", "Y", "YWJjZ", "====", "Y===", "YWJjZA===", "YW Jj", "YWJj\u{00E4}",
            "%ZZ%ZZ", "/w==", "//79",
        ])
    func garbage(tid: String) {
        #expect(CallAccessService.decodeTid(tid) == nil, "\(tid)")
    }

    @Test("a payload longer than 256 characters is refused")
    func tooLong() {
        #expect(CallAccessService.decodeTid(base64(String(repeating: "a", count: 256))) != nil)
        #expect(CallAccessService.decodeTid(base64(String(repeating: "a", count: 257))) == nil)
    }
}
