import Foundation
import Testing
import VServerTestSupport

import VServerConfig

/// The TOML parser against Python's tomllib (3.11+, the reference parser of the TOML test suite's authors): every
/// document is parsed by both, and they must agree on accept/reject and, when both accept, on every value.
///
/// Values are compared as one canonical text each side writes the same way: tables with their keys sorted by code
/// point, strings with every character outside printable ASCII as `\u{HEX}`, integers in decimal, floats by their
/// IEEE bit pattern (every NaN as `nan`), booleans, arrays in order. Dates and times are compared by kind only:
/// the parser keeps them as the text written (no config key takes one), tomllib makes `datetime` objects.
///
/// Each test runs python3 once, on all its documents in a temporary directory.
@Suite(.requires(TOMLReference.isAvailable, "python3 with tomllib (Python 3.11 or newer)"))
struct TOMLDifferential {
    /// Valid documents for every TOML 1.0 feature.
    static let valid: [String] = [
        // Strings: basic with every escape, literal, multi-line basic (line-ending backslash, quotes inside),
        // multi-line literal, the first newline trimmed, unicode.
        #"a = "\b\t\n\f\r\"\\\u00e9\U0001F600 plain""#,
        "a = 'C:\\Users\\no escapes \"here\"'",
        "a = \"\"\"\nRoses are red\n  Violets are blue\"\"\"",
        "a = \"\"\"\nThe quick brown \\\n\n\n  fox jumps over \\\n    the lazy dog.\"\"\"",
        "a = \"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"",
        "a = \"\"\"Here are fifteen quotation marks: \"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\".\"\"\"",
        "a = \"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"",
        "a = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''",
        "a = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''",
        "a = ''''That,' she said, 'is still pointless.''''",
        "a = 'héllo wörld ☃'\n\"ключ\" = \"значение\"",
        "a = \"tab\there\"",
        "a = \"\"\"line one\r\nline two\"\"\"",
        "a = \"\"\"\\\r\n  continued\"\"\"",
        "a = \"\"",
        "a = ''",
        "a = \"\"\"\"\"\"",
        "a = ''''''",
        // Integers.
        "a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = 53_49_221\nh = 1_2_3_4_5",
        "a = 0xDEADBEEF\nb = 0xdeadbeef\nc = 0xdead_beef\nd = 0o01234567\ne = 0o755\nf = 0b11010110",
        "a = 9223372036854775807\nb = -9223372036854775808\nc = 0x7FFFFFFFFFFFFFFF\nd = +0\ne = -0",
        // Floats, inf and nan.
        "a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34\nh = 224_617.445_991_228",
        "a = -0.0\nb = +0.0\nc = inf\nd = +inf\ne = -inf\nf = nan\ng = +nan\nh = -nan",
        "a = 1e-400\nb = 1e400\nc = 0.1\nd = 0.30000000000000004\ne = 1.7976931348623157e308",
        "a = 4.9e-324\nb = 2.2250738585072014e-308\nc = 123456789012345678901234567890.0",
        // Booleans.
        "a = true\nb = false",
        // Dates and times.
        "a = 1979-05-27T07:32:00Z\nb = 1979-05-27T00:32:00-07:00\nc = 1979-05-27T00:32:00.999999-07:00",
        "a = 1979-05-27 07:32:00Z\nb = 1979-05-27T07:32:00\nc = 1979-05-27T00:32:00.999999",
        "a = 1979-05-27\nb = 07:32:00\nc = 00:32:00.999999\nd = 2000-02-29\ne = 1979-05-27t07:32:00z",
        // Arrays.
        "a = [ 1, 2, 3 ]\nb = [ \"red\", \"yellow\", \"green\" ]\nc = [ [ 1, 2 ], [3, 4, 5] ]",
        "a = [ \"all\", 'strings', \"\"\"are the same\"\"\", '''type''' ]",
        "a = [ [ 1, 2 ], [\"a\", \"b\", \"c\"] ]\nb = [ 0.1, 0.2, 0.5, 1, 2, 5 ]",
        "a = [\n  1,\n  2, # this is ok\n]\nb = [\n  1,\n  2\n]\nc = []\nd = [ ]\ne = [\n]",
        "a = [ { x = 1, y = 2, z = 3 }, { x = 7, y = 8, z = 9 }, { x = 2, y = 4, z = 8 } ]",
        "a = [ # comment\n# another\n1 # after\n, # before the comma?\n2]",
        // Inline tables.
        "name = { first = \"Tom\", last = \"Preston-Werner\" }\npoint = { x = 1, y = 2 }",
        "animal = { type.name = \"pug\" }\nempty = {}\nnested = { a = { b = { c = 1 } } }",
        // Tables.
        "[table]\n\n[table-1]\nkey1 = \"some string\"\nkey2 = 123\n\n[table-2]\nkey1 = \"another string\"\nkey2 = 456",
        "[dog.\"tater.man\"]\ntype.name = \"pug\"",
        "[a.b.c]\n[ d.e.f ]\n[ g .  h  . i ]\n[ j . \"ʞ\" . 'l' ]",
        "# [x] you\n# [x.y] don't\n# [x.y.z] need these\n[x.y.z.w] # for this to work\n"
            + "[x] # defining a super-table afterward is ok",
        "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n\n[fruit.apple.texture]\nsmooth = true",
        "top = 1\n[a]\nx = 1\n[b]\ny = 2\n[a.c]\nz = 3",
        // Arrays of tables.
        "[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n[[products]]  # empty table within the array\n\n"
            + "[[products]]\nname = \"Nail\"\nsku = 284758393\n\ncolor = \"gray\"",
        "[[fruits]]\nname = \"apple\"\n\n[fruits.physical]  # subtable\ncolor = \"red\"\nshape = \"round\"\n\n"
            + "[[fruits.varieties]]  # nested array of tables\nname = \"red delicious\"\n\n[[fruits.varieties]]\n"
            + "name = \"granny smith\"\n\n[[fruits]]\nname = \"banana\"\n\n[[fruits.varieties]]\nname = \"plantain\"",
        "points = [ { x = 1, y = 2, z = 3 },\n           { x = 7, y = 8, z = 9 } ]\n[[a.b]]\n[[a.b]]\nc = 1",
        // Keys: bare, quoted, dotted, whitespace around dots, numeric-looking, empty quoted.
        "key = \"value\"\nbare_key = \"value\"\nbare-key = \"value\"\n1234 = \"value\"",
        "\"127.0.0.1\" = \"value\"\n\"character encoding\" = \"value\"\n'key2' = \"value\"\n'quoted \"value\"' = \"v\"",
        "\"\" = \"blank\"",
        "'' = 'blank'",
        "name = \"Orange\"\nphysical.color = \"orange\"\nphysical.shape = \"round\"\nsite.\"google.com\" = true",
        "fruit.name = \"banana\"     # this is best practice\nfruit. color = \"yellow\"    # same as fruit.color\n"
            + "fruit . flavor = \"banana\"   # same as fruit.flavor",
        "3.14159 = \"pi\"",
        "apple.type = \"fruit\"\norange.type = \"fruit\"\napple.skin = \"thin\"\norange.skin = \"thick\"",
        "\"a\\u00e9\" = 1\n\"\\t\" = 2",
        "true = 1\nfalse = 2\ninf = 3\nnan = 4",
        // Comments and whitespace.
        "# This is a full-line comment\nkey = \"value\"  # This is a comment at the end of a line\n"
            + "another = \"# This is not a comment\"",
        "\t a \t = \t 1 \t # tabs\n\n\n\n",
        "",
        "# only a comment",
        "a = 1\r\nb = 2\r\n",
        "# comment with unicode ☃ and a tab\t\na = 1",
        "a = \"\"\"backslash and spaces at a line end \\   \n  x\"\"\"",
        "a = 07:32:00.1234567\nb = 1979-05-27T07:32:00-23:59\nc = 1979-12-31T23:59:59.999999999+00:00",
        "a = 1e1_0\nb = 1_0e1\nc = 0e0\nd = -0e-0\ne = 1E00\nf = 0.000_001",
        "a = \"\\u00E9\\u00e9\\U0000001F\\u007F\"",
        "a = 1 # c\r\nb = 2",
        "a = 1979-05-27 \nb = 07:32:00\t",
        "a = [" + String(repeating: "[", count: 98) + String(repeating: "]", count: 99),
        "a = \"\"\"\n\"\"\"\nb = '''\n'''",
        "[a]\nb.c = 1\n[a.b.d]\ne = 2",
        "[a.b.d]\n[a]\nb.c = 1",
        "a = {b = [1,\n2]}\nc = {d = \"\"\"x\ny\"\"\"}",
        "a = [\n#c\n]",
        "x = 1_000.000_1e-0_1",
        "a = 'x'#c\nb = \"\"\"\"\"x\"\"\"\nc = '''''x'''",
    ]

    /// Invalid documents, for every rule.
    static let invalid: [String] = [
        // Keys and values.
        "key = # INVALID",
        "first = \"Tom\" last = \"Preston-Werner\" # INVALID",
        "= \"no key name\"  # INVALID",
        "\"\"\"key\"\"\" = \"not allowed\"",
        "a.b.= 1",
        "a..b = 1",
        ".a = 1",
        "a = 1\nb",
        "a",
        "a = ",
        "a b = 1",
        "[a] b = 1",
        "a = 1 2",
        "ключ = 1",
        // Duplicates and redefinitions.
        "name = \"Tom\"\nname = \"Pradyun\"",
        "spelling = \"favorite\"\n\"spelling\" = \"favourite\"",
        "fruit.apple = 1\nfruit.apple.smooth = true",
        "[fruit]\napple = \"red\"\n\n[fruit]\norange = \"orange\"",
        "[fruit]\napple = \"red\"\n\n[fruit.apple]\ntexture = \"smooth\"",
        "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple]",
        "[fruit]\napple.color = \"red\"\n[fruit.apple.taste]\nx = 1\n[fruit.apple.taste]",
        "[product]\ntype = { name = \"Nail\" }\ntype.edible = false  # INVALID",
        "[product]\ntype.name = \"Nail\"\ntype = { edible = false }  # INVALID",
        "fruits = []\n\n[[fruits]] # Not allowed",
        "[[fruits]]\nname = \"apple\"\n[[fruits.varieties]]\nname = \"red delicious\"\n"
            + "[fruits.varieties]\nname = \"granny smith\"",
        "[[fruits]]\nname = \"apple\"\n[fruits.physical]\ncolor = \"red\"\n[[fruits.physical]]\ncolor = \"green\"",
        "[a]\nb = 1\n[[a]]",
        "[[a]]\n[a]",
        "a = {}\n[a]",
        "a = { b = 1 }\n[a.c]",
        "a = { b = 1, b = 2 }",
        "a = { b.c = 1, b.d = 2 }\na.b.e = 3",
        "a.b = 1\n[a]\nc = 2",
        "[a.b]\nc = 1\n[a]\nb.d = 2",
        "[a]\n[a.b]\n[a]",
        "a.b = 1\na.c.d = 2\n[a.c]",
        "[a]\nb.c.d = 1\n[a.b]",
        "\"a\".\"b\" = 1\n[a]",
        // Table headers.
        "[]",
        "[a",
        "[a]]",
        "[[a]",
        "[a.]",
        "[.a]",
        "[a b]",
        "[ [a] ]",
        "[a]\n[[a.b]]\n[a.b]",
        // Strings.
        "a = \"unterminated",
        "a = 'unterminated",
        "a = \"\"\"unterminated",
        "a = '''unterminated",
        "a = \"bad \\x escape\"",
        "a = \"bad \\u00 short\"",
        "a = \"bad \\uD800 surrogate\"",
        "a = \"bad \\U00110000 beyond\"",
        "a = \"line\nbreak\"",
        "a = 'line\nbreak'",
        "a = \"control \u{1} char\"",
        "a = 'control \u{7F} char'",
        "a = \"\"\"control \u{0} char\"\"\"",
        "a = \"\"\"four quotes at the end\"\"\"\"\"\"",
        "a = '''six quotes''''''",
        "a = \"bad \\ escape\"",
        "a = \"\\\"",
        "a = \"lone\rcr\"",
        "a = 1\rb = 2",
        "# comment \u{1} with a control",
        "# comment \u{7F} with delete",
        // Numbers.
        "a = +0x1",
        "a = 0x",
        "a = 0b2",
        "a = 0o8",
        "a = 0X1F",
        "a = 01",
        "a = 00",
        "a = -01",
        "a = 1__000",
        "a = _1000",
        "a = 1000_",
        "a = 0x_1",
        "a = 9223372036854775808",
        "a = -9223372036854775809",
        "a = 0x8000000000000000",
        "a = 1.",
        "a = .1",
        "a = 1.e2",
        "a = 1e",
        "a = 1e+",
        "a = 1_.0",
        "a = 1._0",
        "a = 1e_2",
        "a = 03.14",
        "a = infinity",
        "a = Inf",
        "a = NaN",
        "a = ++1",
        "a = 1+1",
        "a = 0.0_",
        // Booleans and bare words.
        "a = True",
        "a = TRUE",
        "a = yes",
        "a = truee",
        // Dates and times.
        "a = 1979-02-29",
        "a = 1979-13-01",
        "a = 1979-00-10",
        "a = 1979-04-31",
        "a = 1979-05-27T24:00:00",
        "a = 1979-05-27T07:60:00",
        "a = 1979-05-27T07:32",
        "a = 07:32",
        "a = 1979-05-27T07:32:00+0700",
        "a = 1979-05-27T07:32:00.",
        "a = 1979-5-27",
        "a = 1979-05-27T",
        "a = 1979-05-27T07:32:00Zz",
        "a = 2100-02-29",
        "a = 1979-05-27T07:32:00+24:00",
        "a = 1979-05-27T07:32:00.Z",
        "a = 07:32:00Z",
        // Arrays and inline tables.
        "a = [1, 2",
        "a = [1 2]",
        "a = [,]",
        "a = [1,,2]",
        "a = { b = 1",
        "a = { b = 1, }",
        "a = { b = 1\n}",
        "a = {\nb = 1 }",
        "a = { b = 1 c = 2 }",
        "a = { , }",
        "a = { b }",
        "a = [ { b = 1 }, { c = 2 ]",
        // Elsewhere.
        "\u{FEFF}a = 1",
        "a = 1 # c\rx",
        "a = \"\\u00e\"",
    ]

    @Test func handWrittenValidDocumentsAgreeWithTomllib() throws {
        let reference = try TOMLReference.parse(Self.valid)
        for (document, python) in zip(Self.valid, reference) {
            if case .refused(let why) = python {
                Issue.record("tomllib refuses (\(why)) a valid document:\n\(document)")
            }
            Self.expectAgreement(document, python)
        }
    }

    @Test func handWrittenInvalidDocumentsAgreeWithTomllib() throws {
        let reference = try TOMLReference.parse(Self.invalid)
        for (document, python) in zip(Self.invalid, reference) {
            if case .accepted = python { Issue.record("tomllib accepts an invalid document:\n\(document)") }
            Self.expectAgreement(document, python)
        }
    }

    /// A few hundred random valid documents (checked valid by tomllib first), every feature in random spellings.
    @Test func generatedDocumentsAgreeWithTomllib() throws {
        var generator = TOMLDocumentGenerator(seed: 0x5EED_70A1)
        let documents = (0..<300).map { _ in generator.document() }
        let reference = try TOMLReference.parse(documents)
        for (document, python) in zip(documents, reference) {
            guard case .accepted = python else {
                Issue.record("the generator made a document tomllib refuses (\(python)):\n\(document)")
                continue
            }
            Self.expectAgreement(document, python)
        }
    }

    /// Random byte-level edits of generated documents: mostly invalid, and both must see it.
    @Test func mutatedDocumentsAgreeWithTomllib() throws {
        var generator = TOMLDocumentGenerator(seed: 0xBAD_70A1)
        let documents = (0..<600).map { _ in generator.mutation(of: generator.document()) }
        let reference = try TOMLReference.parse(documents)
        var refused = 0
        for (document, python) in zip(documents, reference) {
            if case .refused = python { refused += 1 }
            Self.expectAgreement(document, python)
        }
        #expect(refused > 100, "the mutations make invalid documents: \(refused) of \(documents.count)")
    }

    /// Where the parser deliberately differs from tomllib, each with its reason: the difference is asserted, so
    /// a change on either side shows up here.
    struct Difference: CustomStringConvertible, Sendable {
        var document: String
        /// What the parser does with it; tomllib does the opposite.
        var parserAccepts: Bool
        var reason: String
        var description: String { reason }
    }

    static let differences: [Difference] = [
        // tomllib reads integers into Python's unbounded int; TOML 1.0 says "if an integer cannot be represented
        // losslessly, an error must be thrown", and the parser's integers are Int64.
        Difference(document: "a = 9223372036854775808", parserAccepts: false,
                   reason: "integers beyond 64 bits are an error"),
        Difference(document: "a = -9223372036854775809", parserAccepts: false,
                   reason: "integers below -2^63 are an error"),
        Difference(document: "a = 0x1_0000_0000_0000_0000", parserAccepts: false,
                   reason: "hex integers beyond 64 bits are an error"),
        // TOML takes its dates and times from RFC 3339, which allows a leap second (60) and the year 0000;
        // tomllib builds Python datetime objects, which can hold neither. The parser keeps them as text.
        Difference(document: "a = 1990-12-31T23:59:60Z", parserAccepts: true,
                   reason: "a leap second in a date-time is RFC 3339"),
        Difference(document: "a = 23:59:60", parserAccepts: true, reason: "a leap second in a local time is RFC 3339"),
        Difference(document: "a = 0000-01-01", parserAccepts: true, reason: "the year 0000 is RFC 3339"),
        // Arrays and inline tables nested deeper than 100 are refused, so that a document cannot exhaust the
        // stack of the recursive parser (tomllib stops at Python's recursion limit, about 1000 deep).
        Difference(document: "a = " + String(repeating: "[", count: 101) + String(repeating: "]", count: 101),
                   parserAccepts: false, reason: "arrays nested more than 100 deep are an error"),
        Difference(document: "a = " + String(repeating: "{b=", count: 101) + "1" + String(repeating: "}", count: 101),
                   parserAccepts: false, reason: "inline tables nested more than 100 deep are an error"),
    ]

    @Test(arguments: differences)
    func deliberateDifferenceFromTomllib(_ difference: Difference) throws {
        let python = try TOMLReference.parse([difference.document])[0]
        switch (difference.parserAccepts, python) {
        case (true, .refused), (false, .accepted), (false, .beyond64Bits): break
        default: Issue.record("tomllib now does the same (\(python)): no longer a difference")
        }
        if difference.parserAccepts {
            #expect(throws: Never.self) { try TOML.parse(difference.document) }
        } else {
            #expect(throws: TOMLError.self) { try TOML.parse(difference.document) }
        }
    }

    // MARK: Comparing

    static func expectAgreement(
        _ document: String, _ python: TOMLReference.Outcome, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let ours: TOMLReference.Outcome
        do {
            ours = .accepted(canonical(try TOML.parse(document)))
        } catch {
            ours = .refused(error.description)
        }
        switch (ours, python) {
        case (.accepted(let mine), .accepted(let theirs)):
            #expect(mine == theirs, "values differ for:\n\(document)", sourceLocation: sourceLocation)
        case (.refused, .refused):
            break
        case (.accepted(let mine), .refused(let why)):
            Issue.record("accepted (\(mine)) what tomllib refuses (\(why)):\n\(document)",
                         sourceLocation: sourceLocation)
        case (.refused(let why), .accepted):
            Issue.record("refused (\(why)) what tomllib accepts:\n\(document)", sourceLocation: sourceLocation)
        case (_, .beyond64Bits):
            // A deliberate difference (see `differences`): the parser must refuse it.
            if case .accepted = ours {
                Issue.record("accepted an integer beyond 64 bits:\n\(document)", sourceLocation: sourceLocation)
            }
        case (.beyond64Bits, _):
            Issue.record("impossible outcome", sourceLocation: sourceLocation)
        }
    }

    /// The canonical text of a table (see the suite's comment); `TOMLReference.script` writes the same.
    static func canonical(_ table: TOMLTable) -> String {
        let entries = table.entries.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
        return "{" + entries.map { quoted($0.key) + ":" + canonical($0.value) }.joined(separator: ",") + "}"
    }

    static func canonical(_ value: TOMLValue) -> String {
        switch value.kind {
        case .string(let string): quoted(string)
        case .integer(let integer): "int:\(integer)"
        case .float(let float): float.isNaN ? "float:nan" : "float:" + String(float.bitPattern, radix: 16)
        case .boolean(let boolean): boolean ? "true" : "false"
        case .datetime: "datetime"
        case .array(let elements): "[" + elements.map(canonical).joined(separator: ",") + "]"
        case .table(let table): canonical(table)
        }
    }

    static func quoted(_ string: String) -> String {
        var text = "\""
        for scalar in string.unicodeScalars {
            if (0x20..<0x7F).contains(scalar.value) && scalar != "\"" && scalar != "\\" {
                text.unicodeScalars.append(scalar)
            } else {
                text += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return text + "\""
    }
}

/// Python's tomllib, run once over many documents.
enum TOMLReference {
    enum Outcome: CustomStringConvertible {
        case accepted(String)
        case refused(String)
        /// tomllib accepted it, with an integer outside Int64.
        case beyond64Bits

        var description: String {
            switch self {
            case .accepted(let canonical): "accepted \(canonical)"
            case .refused(let reason): "refused: \(reason)"
            case .beyond64Bits: "accepted, with an integer beyond 64 bits"
            }
        }
    }

    static let isAvailable: Bool = {
        (try? runPython(["-c", "import tomllib"]))?.status == 0
    }()

    /// Reads DIR/N.toml for N = 0, 1, …; prints one line per document: "N ok CANONICAL", "N err MESSAGE" or
    /// "N big".
    static let script = #"""
        import math, os, struct, sys, tomllib, datetime

        class Big(Exception):
            pass

        def quoted(s):
            return '"' + ''.join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else '\\u{%X}' % ord(c)
                                 for c in s) + '"'

        def canonical(v):
            if isinstance(v, bool):
                return 'true' if v else 'false'
            if isinstance(v, int):
                if not -2**63 <= v < 2**63:
                    raise Big()
                return 'int:%d' % v
            if isinstance(v, float):
                if math.isnan(v):
                    return 'float:nan'
                return 'float:%x' % struct.unpack('>Q', struct.pack('>d', v))[0]
            if isinstance(v, str):
                return quoted(v)
            if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
                return 'datetime'
            if isinstance(v, list):
                return '[' + ','.join(canonical(e) for e in v) + ']'
            if isinstance(v, dict):
                return '{' + ','.join(quoted(k) + ':' + canonical(v[k]) for k in sorted(v)) + '}'
            raise TypeError(type(v))

        directory = sys.argv[1]
        count = int(sys.argv[2])
        out = []
        for n in range(count):
            with open(os.path.join(directory, '%d.toml' % n), 'rb') as f:
                text = f.read().decode('utf-8')
            try:
                out.append('%d ok %s' % (n, canonical(tomllib.loads(text))))
            except tomllib.TOMLDecodeError as e:
                out.append('%d err %s' % (n, str(e).replace('\n', ' ')))
            except Big:
                out.append('%d big' % n)
        sys.stdout.write('\n'.join(out) + '\n')
        """#

    static func parse(_ documents: [String]) throws -> [Outcome] {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("toml-differential-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (index, document) in documents.enumerated() {
            try Data(document.utf8).write(to: directory.appendingPathComponent("\(index).toml"))
        }
        let result = try runPython(["-c", script, directory.path, "\(documents.count)"])
        guard result.status == 0 else { throw TOMLReferenceFailure(description: "python3: \(result.output)") }
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.count == documents.count else {
            throw TOMLReferenceFailure(description: "python3 answered \(lines.count) of \(documents.count)")
        }
        return lines.map { line in
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            let rest = parts.count > 2 ? String(parts[2]) : ""
            switch parts[1] {
            case "ok": return .accepted(rest)
            case "big": return .beyond64Bits
            default: return .refused(rest)
            }
        }
    }

    struct TOMLReferenceFailure: Error, CustomStringConvertible {
        var description: String
    }

    private static func runPython(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Random valid TOML documents in random spellings, and random edits of them. Deterministic for a seed.
struct TOMLDocumentGenerator {
    private var state: UInt64
    private var counter = 0

    init(seed: UInt64) {
        state = seed
    }

    /// SplitMix64.
    private mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    private mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    private mutating func pick<T>(_ choices: [T]) -> T { choices[int(0...choices.count - 1)] }

    mutating func document() -> String {
        var lines: [String] = []
        if chance(30) { lines.append("# " + comment()) }
        for _ in 0..<int(0...4) { lines.append(keyValue(depth: 0)) }
        for _ in 0..<int(0...3) {
            lines.append("")
            if chance(70) {
                lines.append(header())
                for _ in 0..<int(0...3) { lines.append(keyValue(depth: 0)) }
            } else {
                let name = key()
                for _ in 0..<int(1...3) {
                    lines.append(pick(["[[", "[[ ", "[["]) + name + pick(["]]", " ]]", "]]  # element"]))
                    for _ in 0..<int(0...2) { lines.append(keyValue(depth: 0)) }
                }
            }
        }
        return lines.joined(separator: pick(["\n", "\n", "\r\n", "\n\n"])) + (chance(50) ? "\n" : "")
    }

    /// One edit: a character deleted, doubled or inserted, or a line doubled or dropped.
    mutating func mutation(of document: String) -> String {
        var scalars = Array(document.unicodeScalars)
        guard !scalars.isEmpty else { return "=" }
        let at = int(0...scalars.count - 1)
        switch int(0...5) {
        case 0:
            scalars.remove(at: at)
        case 1:
            scalars.insert(scalars[at], at: at)
        case 2, 3:
            let inserted: [Unicode.Scalar] = ["\"", "'", "=", "[", "]", "{", "}", ".", ",", "#", "\\", "\n", " ",
                                              "_", "0", "e", "+", "-", ":", "x", "\t", "\u{1}", "é"]
            scalars.insert(pick(inserted), at: at)
        default:
            var lines = document.components(separatedBy: "\n")
            let line = int(0...lines.count - 1)
            if chance(50) { lines.insert(lines[line], at: line) } else { lines.remove(at: line) }
            return lines.joined(separator: "\n")
        }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        return text
    }

    private mutating func header() -> String {
        let parts = (0..<int(1...3)).map { _ in key() }
        return pick(["[", "[ "]) + parts.joined(separator: pick([".", " . ", "."])) + pick(["]", " ]", "] # t"])
    }

    private mutating func keyValue(depth: Int) -> String {
        var name = key()
        if chance(20) { name = key() + pick([".", " .", ". "]) + name }
        let spacing = pick(["=", " = ", "\t=\t", "  =  "])
        return name + spacing + value(depth: depth) + (chance(20) ? " # " + comment() : "")
    }

    /// A key no other key of the document has (a counter), in one of TOML's three spellings.
    private mutating func key() -> String {
        counter += 1
        switch int(0...5) {
        case 0: return "\"k\(counter) \(pick(["é", "\\t", "\\u00e9", ".", "☃", "'"]))\""
        case 1: return "'k\(counter)\(pick([" x", ".y", "\"", "\\"]))'"
        case 2: return "\(counter)"
        default: return pick(["k", "key_", "a-", "B"]) + "\(counter)"
        }
    }

    private mutating func comment() -> String {
        pick(["a comment", "", "# more", "☃ unicode", "\ttab", "=[]{}\"'"])
    }

    private mutating func value(depth: Int) -> String {
        switch int(0...(depth < 3 ? 8 : 6)) {
        case 0: return basicString()
        case 1: return literalString()
        case 2: return multiLineString()
        case 3: return integer()
        case 4: return float()
        case 5: return pick(["true", "false"])
        case 6:
            return pick(["1979-05-27T07:32:00Z", "1979-05-27 07:32:00-07:00", "1979-05-27T00:32:00.999999",
                         "1979-05-27", "07:32:00", "00:32:00.5", "2000-02-29T23:59:59+05:30"])
        case 7:
            let elements = (0..<int(0...4)).map { _ in value(depth: depth + 1) }
            // A trailing comma only after an element: "[,]" is invalid.
            if chance(30) {
                let separator = pick([",\n  ", ", # c\n", ",\n\n"])
                let trailing = !elements.isEmpty && chance(50) ? ",\n" : "\n"
                return "[\n  " + elements.joined(separator: separator) + trailing + "]"
            }
            let trailing = !elements.isEmpty && chance(20) ? ", ]" : "]"
            return "[" + elements.joined(separator: pick([",", ", ", " , "])) + trailing
        default:
            let entries = (0..<int(0...3)).map { _ in
                key() + pick(["=", " = "]) + value(depth: depth + 1)
            }
            return "{" + (entries.isEmpty ? pick(["", " "]) : " " + entries.joined(separator: ", ") + " ") + "}"
        }
    }

    private mutating func basicString() -> String {
        let pieces = (0..<int(0...4)).map { _ in
            pick(["plain", " ", "\\n", "\\t", "\\\"", "\\\\", "\\b", "\\f", "\\r", "\\u00e9", "\\U0001F600",
                  "é", "☃", "'", "#", "\\u0000", "\\e", "\\u007F", "\\u001F"])
        }
        // \e is TOML 1.1, not 1.0: both must refuse it; kept out of valid documents.
        return "\"" + pieces.filter { $0 != "\\e" }.joined() + "\""
    }

    private mutating func literalString() -> String {
        let pieces = (0..<int(0...4)).map { _ in pick(["plain", " ", "\\n", "\\", "\"", "é", "☃", "#", "\t"]) }
        return "'" + pieces.joined() + "'"
    }

    private mutating func multiLineString() -> String {
        if chance(50) {
            let pieces = (0..<int(0...5)).map { _ in
                pick(["line", "\n", "\\\n   ", "\"", "\"\"", "\\t", "'''", "é", " \\\n\n  x"])
            }
            var body = pieces.joined()
            // Three quotes would end it; a quote at the end would merge with the delimiter into more than five.
            while body.contains("\"\"\"") { body = body.replacingOccurrences(of: "\"\"\"", with: "\"\"") }
            if body.hasSuffix("\"") { body += "x" }
            return "\"\"\"" + (chance(50) ? "\n" : "") + body + "\"\"\""
        }
        let pieces = (0..<int(0...5)).map { _ in pick(["line", "\n", "\\", "'", "''", "\"\"\"", "é", "\t"]) }
        var body = pieces.joined()
        while body.contains("'''") { body = body.replacingOccurrences(of: "'''", with: "''") }
        if body.hasSuffix("'") { body += "x" }
        return "'''" + (chance(50) ? "\n" : "") + body + "'''"
    }

    private mutating func integer() -> String {
        let value = next() >> UInt64(int(1...63))
        switch int(0...5) {
        case 0: return "0x" + underscored(String(value, radix: 16, uppercase: chance(50)))
        case 1: return "0o" + underscored(String(value, radix: 8))
        case 2: return "0b" + underscored(String(value, radix: 2))
        default:
            let sign = pick(["", "+", "-"])
            return sign + underscored(String(value))
        }
    }

    /// Random single underscores between digits; leading zeros are only valid in prefixed integers.
    private mutating func underscored(_ digits: String) -> String {
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && chance(10) { text += "_" }
            text.append(digit)
        }
        return text
    }

    private mutating func float() -> String {
        switch int(0...9) {
        case 0: return pick(["inf", "+inf", "-inf", "nan", "+nan", "-nan"])
        case 1: return pick(["0.0", "-0.0", "+0.0", "0e0", "1e-400", "1e400", "5e-324", "1.7976931348623157e308"])
        default:
            let whole = int(0...3) == 0 ? "0" : underscored(String(next() >> UInt64(int(1...63))))
            var text = pick(["", "+", "-"]) + whole
            let fraction = chance(80)
            if fraction { text += "." + underscored(String(next() % 1_000_000_007)) }
            if !fraction || chance(30) {
                text += pick(["e", "E"]) + pick(["", "+", "-"]) + underscored(String(int(0...330)))
            }
            return text
        }
    }
}
