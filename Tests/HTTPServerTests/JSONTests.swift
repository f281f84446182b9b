import Testing

@testable import HTTPServer

private func parse(_ text: String) throws -> JSON {
    try JSON.parse(text)
}

private func text(_ value: JSON) -> String {
    String(decoding: value.serialized(), as: UTF8.self)
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test("scalars parse to the matching cases")
    func scalars() throws {
        #expect(try parse("null") == .null)
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("\"abc\"") == .string("abc"))
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("42") == .int(42))
        #expect(try parse("-17") == .int(-17))
    }

    @Test("integers stay integers; fractions and exponents are doubles")
    func integersVersusDoubles() throws {
        #expect(try parse("1") == .int(1))
        #expect(try parse("1.0") == .double(1.0))
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("-0.25") == .double(-0.25))
        #expect(try parse("1e2") == .double(100))
        #expect(try parse("1E+2") == .double(100))
        #expect(try parse("25e-1") == .double(2.5))
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        // Beyond Int64: still a number, as a double.
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        // An integer and a double of the same value are different JSON values.
        #expect(JSON.int(1) != JSON.double(1))
    }

    @Test(
        "invalid numbers are refused",
        arguments: [
            "01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "1.2.3", "--1", "- 1",
            "00", "1_000",
        ])
    func invalidNumbers(_ input: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(input) }
    }

    @Test("leading and trailing whitespace is allowed")
    func whitespace() throws {
        #expect(try parse(" \t\r\n[ 1 , 2 ]\n ") == [1, 2])
        #expect(try parse("\n{ \"a\" :\ttrue }\r\n") == ["a": true])
    }

    @Test(
        "trailing garbage is refused",
        arguments: ["{} x", "1 2", "[1]]", "{}}", "true false", "nullx", "\"a\"\"b\"", "[1] ,", "{} \u{0}"])
    func trailingGarbage(_ input: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(input) }
    }

    @Test(
        "malformed documents are refused",
        arguments: [
            "", "   ", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{'a':1}", "tru", "nul",
            "[1 2]", "{\"a\":1 \"b\":2}", "\"abc", "'abc'", "True", "undefined",
        ])
    func malformed(_ input: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(input) }
    }

    @Test("the error names the byte offset of the problem")
    func errorOffset() {
        let error = #expect(throws: JSONParseError.self) { try JSON.parse("[1,]") }
        #expect(error?.offset == 3)
        let trailing = #expect(throws: JSONParseError.self) { try JSON.parse("{}  x") }
        #expect(trailing?.offset == 4)
        #expect(trailing?.description.contains("at byte 4") == true)
    }

    @Test("escapes are decoded")
    func escapes() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try parse(#""\u0041\u00e9\u00E9""#) == .string("Aéé"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse(#""a\u20acb""#) == .string("a€b"))
    }

    @Test(
        "invalid escapes are refused",
        arguments: [#""\x41""#, #""\u12""#, #""\u12G4""#, #""\'""#, #""\"#, #""\U0041""#])
    func invalidEscapes(_ input: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(input) }
    }

    @Test("surrogate pairs combine to one scalar")
    func surrogatePairs() throws {
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse(#""\uD834\uDD1E""#) == .string("𝄞"))
        #expect(try parse(#""x\ud83d\ude00y""#) == .string("x😀y"))
    }

    @Test(
        "unpaired surrogates are refused",
        arguments: [
            #""\ud83d""#, #""\ude00""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\ud83d\ud83d""#, #""\ude00\ud83d""#,
        ])
    func unpairedSurrogates(_ input: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(input) }
    }

    @Test("raw UTF-8 passes through strings")
    func rawUnicode() throws {
        #expect(try parse("\"Grüße 😀 ärztin\"") == .string("Grüße 😀 ärztin"))
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSON.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSON.parse([0x22, 0xC3, 0x22]) }  // truncated sequence
        #expect(throws: JSONParseError.self) { try JSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }  // encoded surrogate
    }

    @Test("control characters inside strings are refused", arguments: [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] as [UInt8])
    func controlCharacters(_ byte: UInt8) {
        let bytes: [UInt8] = [0x22, UInt8(ascii: "a"), byte, UInt8(ascii: "b"), 0x22]
        #expect(throws: JSONParseError.self) { try JSON.parse(bytes) }
    }

    @Test("DEL and other bytes from 0x20 up are allowed raw")
    func nonControlCharacters() throws {
        #expect(try JSON.parse([0x22, 0x20, 0x7F, 0x22]) == .string(" \u{7F}"))
    }

    /// `depth` arrays nested in each other, the innermost empty.
    private func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    @Test("nesting up to the limit is accepted")
    func nestingAtLimit() throws {
        var value = try parse(nested(JSON.maximumDepth))
        var depth = 0
        while case .array(let items) = value {
            depth += 1
            guard let first = items.first else { break }
            value = first
        }
        #expect(depth == JSON.maximumDepth)
        let objects =
            String(repeating: "{\"a\":", count: JSON.maximumDepth - 1) + "{}"
            + String(repeating: "}", count: JSON.maximumDepth - 1)
        #expect(throws: Never.self) { try JSON.parse(objects) }
    }

    @Test("nesting beyond the limit is refused, also for hostile depths")
    func nestingBeyondLimit() {
        let error = #expect(throws: JSONParseError.self) { try JSON.parse(nested(JSON.maximumDepth + 1)) }
        #expect(error?.reason.contains("nesting") == true)
        #expect(throws: JSONParseError.self) { try JSON.parse(nested(100_000)) }
        #expect(throws: JSONParseError.self) { try JSON.parse(String(repeating: "[", count: 1_000_000)) }
        let objects =
            String(repeating: "{\"a\":", count: JSON.maximumDepth) + "{}"
            + String(repeating: "}", count: JSON.maximumDepth)
        #expect(throws: JSONParseError.self) { try JSON.parse(objects) }
    }

    @Test("object members keep their order, and duplicates are kept")
    func memberOrder() throws {
        let value = try parse(#"{"zeta":1,"alpha":2,"mid":3,"alpha":4}"#)
        guard case .object(let members) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        #expect(members.map(\.0) == ["zeta", "alpha", "mid", "alpha"])
        // The subscript answers the last of repeated keys.
        #expect(value["alpha"] == .int(4))
        #expect(value["zeta"] == .int(1))
        #expect(value["missing"] == nil)
        #expect(JSON.int(1)["zeta"] == nil)
    }

    @Test("objects with the same members in another order are not equal")
    func orderMattersForEquality() throws {
        #expect(try parse(#"{"a":1,"b":2}"#) != parse(#"{"b":2,"a":1}"#))
        #expect(try parse(#"{"a":1,"b":2}"#) == parse(#"{ "a" : 1 , "b" : 2 }"#))
        #expect(try parse(#"{"a":1}"#) != parse(#"{"a":1,"b":2}"#))
    }

    @Test("empty containers")
    func emptyContainers() throws {
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([]))
        #expect(try parse("[ ]") == .array([]))
        #expect(try parse("{ }") == .object([]))
        #expect(try parse("[[],{}]") == [[], [:]])
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("compact output in member order")
    func compact() {
        let value: JSON = [
            "data": ["id": 7, "name": "Arzt5", "tags": [], "extid": nil, "ok": true, "rate": .double(0.5)]
        ]
        #expect(text(value) == #"{"data":{"id":7,"name":"Arzt5","tags":[],"extid":null,"ok":true,"rate":0.5}}"#)
        #expect(text(["b": 1, "a": 2]) == #"{"b":1,"a":2}"#)
    }

    @Test("strings are escaped")
    func escaping() {
        #expect(text(.string("a\"b\\c")) == #""a\"b\\c""#)
        #expect(text(.string("line\nnext\r\ttab")) == #""line\nnext\r\ttab""#)
        #expect(text(.string("\u{0}\u{1}\u{8}\u{C}\u{1F}")) == #""\u0000\u0001\u0008\u000c\u001f""#)
        // Solidus and non-ASCII are written as they are.
        #expect(text(.string("a/b")) == #""a/b""#)
        #expect(text(.string("Grüße 😀")) == "\"Grüße 😀\"")
        #expect(text(["k\"ey": 1]) == #"{"k\"ey":1}"#)
    }

    @Test("numbers")
    func numbers() {
        #expect(text(.int(0)) == "0")
        #expect(text(.int(-12)) == "-12")
        #expect(text(.int(Int64.max)) == "9223372036854775807")
        #expect(text(.int(Int64.min)) == "-9223372036854775808")
        #expect(text(.double(1.5)) == "1.5")
        #expect(text(.double(.nan)) == "null")
        #expect(text(.double(.infinity)) == "null")
        #expect(text(.double(-.infinity)) == "null")
    }

    @Test("helpers for optionals")
    func optionalHelpers() {
        #expect(JSON.string(nil as String?) == .null)
        #expect(JSON.string("x" as String?) == .string("x"))
        #expect(JSON.int(nil as Int?) == .null)
        #expect(JSON.int(5 as Int?) == .int(5))
        #expect(JSON.int(7 as Int64?) == .int(7))
    }

    static let roundTrips: [JSON] = [
        .null, true, false, 0, -1, .int(Int64.max), .int(Int64.min), .double(1.5), .double(-2.25e-10), .double(1e300),
        .double(123456789.125), .double(1.0), "", "plain", "quote \" backslash \\ slash /", "\u{0}\u{1}\u{1F}\u{7F}",
        "tab\tnewline\ncr\r", "Grüße ärztin €", "😀𝄞 surrogate pairs", "\u{FEFF}bom",
        [], [:], [1, "two", .double(3.0), nil, [true]],
        ["z": 1, "a": ["nested": ["deeper": [1, 2, ["x": nil]]]], "m": "", "a2": .double(0.1)],
        ["dup": 1, "dup": 2],
    ]

    @Test("serialise then parse gives the same value", arguments: roundTrips)
    func roundTrip(_ value: JSON) throws {
        let bytes = value.serialized()
        #expect(try JSON.parse(bytes) == value)
        // And the output is stable.
        #expect(try JSON.parse(bytes).serialized() == bytes)
    }

    @Test("parse then serialise keeps a compact document byte for byte")
    func parseSerialise() throws {
        let documents = [
            #"{"access_token":"abc","token_type":"bearer","expires_in":86400}"#,
            #"{"data":[{"id":1,"roles":[{"id":2,"name":"doc"}]}],"meta":{"total":1,"per_page":15}}"#,
            #"["\u0001",null,-0.5,1e+300]"#,
        ]
        for document in documents {
            #expect(text(try parse(document)) == document)
        }
    }

    @Test("type names for validation messages")
    func typeNames() {
        #expect(JSON.null.typeName == "null")
        #expect(JSON.int(1).typeName == "a number")
        #expect(JSON.double(1).typeName == "a number")
        #expect(JSON.string("").typeName == "a string")
        #expect(JSON.array([]).typeName == "a list")
        #expect(JSON.object([]).typeName == "an object")
        #expect(JSON.bool(true).typeName == "a boolean")
        #expect(JSON.null.isNull)
        #expect(!JSON.int(0).isNull)
    }
}
