import Glibc
import Testing
import VServerProtocol

@Suite struct JSONTests {
    // MARK: Parsing

    @Test func parsesEveryKindOfValue() throws {
        let json = try JSON.parse(#" { "a" : [1, -2.5, true, false, null, "x"], "b": {}, "c": [] } "#)
        #expect(
            json
                == .object([
                    "a": .array([.int(1), .double(-2.5), .bool(true), .bool(false), .null, .string("x")]),
                    "b": .object([:]),
                    "c": .array([]),
                ])
        )
    }

    @Test func parsesScalarsAtTopLevel() throws {
        #expect(try JSON.parse("42") == .int(42))
        #expect(try JSON.parse(" \"s\"\n") == .string("s"))
        #expect(try JSON.parse("null") == .null)
    }

    @Test func parsesBytesFromAnyCollection() throws {
        let bytes = Array(#"{"k":[1,2]}"#.utf8)
        #expect(try JSON.parse(bytes) == ["k": [1, 2]])
        #expect(try JSON.parse(bytes[...]) == ["k": [1, 2]])
        // No contiguous storage: takes the copying path.
        #expect(try JSON.parse(AnyCollection(bytes)) == ["k": [1, 2]])
    }

    @Test func decodesEveryEscape() throws {
        let json = try JSON.parse(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00""#)
        #expect(json == .string("\"\\/\u{8}\u{C}\n\r\tAé€😀"))
    }

    @Test func keepsRawUTF8() throws {
        #expect(try JSON.parse("\"grüße 😀\"") == .string("grüße 😀"))
    }

    @Test func replacesLoneSurrogatesWithReplacementCharacter() throws {
        #expect(try JSON.parse(#""a\ud800b""#) == .string("a\u{FFFD}b"))
        #expect(try JSON.parse(#""\udc00""#) == .string("\u{FFFD}"))
        #expect(try JSON.parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try JSON.parse(#""\ud800""#) == .string("\u{FFFD}"))
    }

    @Test func integersThatFitInt64AreInts() throws {
        #expect(try JSON.parse("0") == .int(0))
        #expect(try JSON.parse("-0") == .int(0))
        #expect(try JSON.parse("9223372036854775807") == .int(.max))
        #expect(try JSON.parse("-9223372036854775808") == .int(.min))
    }

    @Test func otherNumbersAreDoubles() throws {
        #expect(try JSON.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try JSON.parse("-9223372036854775809") == .double(-9_223_372_036_854_775_808))
        #expect(try JSON.parse("1.0") == .double(1))
        #expect(try JSON.parse("1e3") == .double(1000))
        #expect(try JSON.parse("1E+2") == .double(100))
        #expect(try JSON.parse("-1.25e-3") == .double(-0.00125))
        #expect(try JSON.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test(arguments: [
        ("", 0, "unexpected end of input"),
        ("[1,]", 3, "unexpected character ']'"),
        (#"{"a":1,}"#, 7, "expected a string key in object, found character '}'"),
        ("[1 2]", 3, "expected ',' or ']' in array, found character '2'"),
        (#"{"a" 1}"#, 5, "expected ':' after object key"),
        ("01", 0, "leading zero in number"),
        ("1.", 2, "expected a digit after the decimal point"),
        ("1e", 2, "expected a digit in the exponent"),
        ("-", 1, "expected a digit"),
        (".5", 0, "unexpected character '.'"),
        ("+1", 0, "unexpected character '+'"),
        ("NaN", 0, "unexpected character 'N'"),
        ("1e400", 0, "number out of range"),
        ("tru", 0, "invalid literal, expected 'true'"),
        ("nul", 0, "invalid literal, expected 'null'"),
        (#""abc"#, 0, "unterminated string"),
        (#"["a"#, 1, "unterminated string"),
        (#""a\x""#, 2, "invalid escape sequence"),
        (#""\u12G4""#, 5, #"invalid hex digit in \u escape"#),
        ("\"a\tb\"", 2, "unescaped control character in string"),
        ("[1] x", 4, "unexpected character 'x' after the document"),
        ("{} {}", 3, "unexpected character '{' after the document"),
        (#"{"a":1,"a":2}"#, 7, #"duplicate key "a""#),
        ("[1", 2, "unterminated array"),
        (#"{"a":1"#, 6, "unterminated object"),
        ("'a'", 0, "unexpected character '''"),
    ])
    func rejectsInvalidDocumentsWithOffset(document: String, offset: Int, reason: String) {
        #expect(throws: JSONError(offset: offset, reason: reason)) { try JSON.parse(document) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONError(offset: 1, reason: "invalid UTF-8 in string")) {
            try JSON.parse([0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D])
        }
        #expect(throws: JSONError(offset: 0, reason: "invalid UTF-8 in string")) {
            try JSON.parse([0x22, 0x5C, 0x6E, 0xFF, 0x22])
        }
        #expect(throws: JSONError(offset: 0, reason: "unexpected byte 0xFF")) { try JSON.parse([0xFF]) }
    }

    @Test func rejectsNestingDeeperThanTheLimit() throws {
        let deepest = String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)
        _ = try JSON.parse(deepest)
        let tooDeep = "[" + deepest + "]"
        #expect(throws: JSONError(offset: JSON.maxDepth, reason: "nesting deeper than \(JSON.maxDepth)")) {
            try JSON.parse(tooDeep)
        }
        // Far deeper input fails the same way instead of overflowing the stack.
        let hostile = String(repeating: #"{"a":"#, count: 100_000)
        #expect(throws: JSONError.self) { try JSON.parse(hostile) }
    }

    @Test func errorDescriptionNamesTheOffset() {
        #expect(JSONError(offset: 3, reason: "x").description == "invalid JSON at byte 3: x")
    }

    // MARK: Serializing

    @Test func serializesCompactlyWithSortedKeys() {
        let json: JSON = ["b": [1, 2.5, true, nil], "a": "x", "c": ["z": 1, "y": [:]]]
        #expect(json.serialized() == #"{"a":"x","b":[1,2.5,true,null],"c":{"y":{},"z":1}}"#)
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        let json = JSON.string("\"\\/\u{8}\u{C}\n\r\t\u{0}\u{1F}\u{7F}é😀")
        #expect(json.serialized() == #""\"\\/\b\f\n\r\t\u0000\u001f"# + "\u{7F}é😀\"")
    }

    @Test func serializationNeverContainsNUL() {
        let bytes = JSON.object(["k\u{0}": .string("a\u{0}b")]).serializedBytes()
        #expect(!bytes.contains(0))
    }

    @Test func serializesIntegersExactly() {
        #expect(JSON.int(.min).serialized() == "-9223372036854775808")
        #expect(JSON.int(.max).serialized() == "9223372036854775807")
        #expect(JSON.int(0).serialized() == "0")
        #expect(JSON.int(-7).serialized() == "-7")
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(JSON.double(.nan).serialized() == "null")
        #expect(JSON.double(.infinity).serialized() == "null")
    }

    @Test(arguments: [
        0.1, 1.0, -0.0, 1e-7, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 123_456_789.123, 2.5e20,
        -3.141592653589793,
    ])
    func doublesRoundTripExactly(value: Double) throws {
        let text = JSON.double(value).serialized()
        let parsed = try JSON.parse(text)
        guard case .double(let back) = parsed else {
            Issue.record("\(text) parsed as \(parsed)")
            return
        }
        #expect(back.bitPattern == value.bitPattern, "\(text)")
    }

    @Test func documentsRoundTrip() throws {
        let json: JSON = [
            "name": "web", "context": 1042, "ratio": 0.75, "on": true, "none": nil,
            "list": ["a", 1, ["nested": [[], [:]]]], "text": "line\nwith \"quotes\" and \\ and ü",
        ]
        #expect(try JSON.parse(json.serialized()) == json)
        #expect(try JSON.parse(json.serializedBytes()) == json)
    }

    // MARK: Accessors

    @Test func accessorsReturnValuesOfTheirKindOnly() {
        let json: JSON = ["s": "x", "i": 3, "d": 2.0, "h": 2.5, "b": true, "a": [1], "o": ["k": nil]]
        #expect(json["s"]?.stringValue == "x")
        #expect(json["i"]?.intValue == 3)
        #expect(json["d"]?.intValue == 2)
        #expect(json["h"]?.intValue == nil)
        #expect(json["i"]?.doubleValue == 3)
        #expect(json["b"]?.boolValue == true)
        #expect(json["a"]?.arrayValue == [1])
        #expect(json["a"]?[0] == 1)
        #expect(json["a"]?[1] == nil)
        #expect(json["o"]?.objectValue == ["k": .null])
        #expect(json["o"]?["k"]?.isNull == true)
        #expect(json["missing"] == nil)
        #expect(json["s"]?.intValue == nil)
        #expect(JSON.string("x")["k"] == nil)
    }

    @Test func initializersBuildTheRightCases() {
        let name = "web"
        #expect(JSON(Int32(7)) == .int(7))
        #expect(JSON(UInt64.max) == .double(Double(UInt64.max)))
        #expect(JSON(nil as String?) == .null)
        #expect(JSON("x" as String?) == .string("x"))
        #expect(("vserver \(name)" as JSON) == .string("vserver web"))
    }

    // MARK: Speed

    @Test func aThousandVServerListIsFastEnough() throws {
        let list = (0..<1000).map { index in
            VServerInfo(
                name: "vs\(index)", context: 1000 + index, state: .running, root: "/vservers/vs\(index)",
                hostname: "vs\(index).example.org", autostart: true, pid: Int32(10_000 + index),
                startedAt: "2025-01-01T00:00:00Z", processes: 12, memoryBytes: 123_456_789
            )
        }
        let clock = ContinuousClock()
        var bytes: [UInt8] = []
        var parsed: JSON = .null
        let elapsed = try clock.measure {
            bytes = VarlinkReply(parameters: ["vservers": .array(list.map(\.json))]).encoded()
            parsed = try JSON.parse(bytes.dropLast())
        }
        #expect(parsed["parameters"]?["vservers"]?.arrayValue?.count == 1000)
        // About 2 ms in a release build; debug builds are several times slower, hence the margin.
        #expect(elapsed < .milliseconds(250), "\(elapsed) for \(bytes.count) bytes")
    }
}
