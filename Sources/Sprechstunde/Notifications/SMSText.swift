/// SMS length rules: a message in the GSM 7-bit alphabet takes 160 characters in one part and
/// 153 per part when concatenated; anything outside it is sent as UCS-2, 70 and 67 characters.
/// Texts are cut (with an ellipsis) to `maximumParts`, so that an operator's gateway never splits
/// a message into more parts than allowed; what matters most (link, TAN) comes first in every
/// text, so a cut never loses it.
public enum SMSText {
    /// The GSM 03.38 basic character set (the extension table's characters count double).
    static let basic: Set<Character> = Set(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    static let extended: Set<Character> = Set("^{}\\[~]|€")

    public enum Encoding: Sendable, Equatable {
        case gsm7
        case ucs2
    }

    public static func encoding(of text: String) -> Encoding {
        text.allSatisfy { basic.contains($0) || extended.contains($0) } ? .gsm7 : .ucs2
    }

    /// Septets (GSM) or UTF-16 code units (UCS-2) the text takes.
    public static func units(_ text: String, _ encoding: Encoding) -> Int {
        switch encoding {
        case .gsm7: return text.reduce(0) { $0 + (extended.contains($1) ? 2 : 1) }
        case .ucs2: return text.utf16.count
        }
    }

    /// How many parts the text is sent in.
    public static func parts(_ text: String) -> Int {
        let encoding = encoding(of: text)
        let count = units(text, encoding)
        let (single, multi) = encoding == .gsm7 ? (160, 153) : (70, 67)
        return count <= single ? 1 : (count + multi - 1) / multi
    }

    /// The text, cut with "…" (or "..." in GSM, which has no ellipsis) to fit `maximumParts`.
    public static func limited(_ text: String, maximumParts: Int) -> String {
        if parts(text) <= maximumParts { return text }
        let encoding = encoding(of: text)
        let budget = (encoding == .gsm7 ? 153 : 67) * max(1, maximumParts)
        let ellipsis = encoding == .gsm7 ? "..." : "…"
        var result = ""
        var used = units(ellipsis, encoding)
        for character in text {
            let cost = units(String(character), encoding)
            if used + cost > budget { break }
            result.append(character)
            used += cost
        }
        return result + ellipsis
    }
}
