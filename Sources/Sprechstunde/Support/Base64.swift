/// Standard base64 (RFC 4648) without Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        for chunk in stride(from: 0, to: bytes.count, by: 3) {
            let count = min(3, bytes.count - chunk)
            var word = UInt32(bytes[chunk]) << 16
            if count > 1 { word |= UInt32(bytes[chunk + 1]) << 8 }
            if count > 2 { word |= UInt32(bytes[chunk + 2]) }
            for position in 0..<4 {
                out.append(
                    position <= count ? alphabet[Int(word >> UInt32(18 - 6 * position) & 0x3F)] : UInt8(ascii: "="))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        var padding = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"), UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "/"), UInt8(ascii: "_"): values.append(63)
            case UInt8(ascii: "="):
                padding += 1
                values.append(0)
            default: return nil
            }
        }
        guard values.count % 4 == 0, padding <= 2 else { return nil }
        var out: [UInt8] = []
        for chunk in stride(from: 0, to: values.count, by: 4) {
            let word =
                UInt32(values[chunk]) << 18 | UInt32(values[chunk + 1]) << 12 | UInt32(values[chunk + 2]) << 6
                | UInt32(values[chunk + 3])
            out += [UInt8(word >> 16 & 0xFF), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF)]
        }
        out.removeLast(padding)
        return out
    }
}
