import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

private func parse(_ text: String) throws -> TOMLTable { try TOML.parse(text) }

/// The error a document gives, as "line L, column C: message".
private func failure(_ text: String) -> String {
    do {
        _ = try TOML.parse(text)
        return "no error"
    } catch {
        return error.description
    }
}

private func kind(_ table: TOMLTable, _ path: String...) -> TOMLValue.Kind? {
    var current = table
    for key in path.dropLast() {
        guard case .table(let next)? = current[key]?.kind else { return nil }
        current = next
    }
    return current[path.last!]?.kind
}

@Test func basicStringsDecodeEveryEscape() throws {
    let table = try parse(#"a = "\b\t\n\f\r\"\\\u00e9\U0001F600 plain""#)
    #expect(kind(table, "a") == .string("\u{8}\t\n\u{C}\r\"\\é😀 plain"))
}

@Test func integersInEveryBaseAndSign() throws {
    let table = try parse(
        """
        a = +17
        b = -0
        c = 1_000_000
        d = 0xDEAD_beef
        e = 0o755
        f = 0b1101
        g = 9223372036854775807
        h = -9223372036854775808
        """)
    #expect(kind(table, "a") == .integer(17))
    #expect(kind(table, "b") == .integer(0))
    #expect(kind(table, "c") == .integer(1_000_000))
    #expect(kind(table, "d") == .integer(0xDEAD_BEEF))
    #expect(kind(table, "e") == .integer(0o755))
    #expect(kind(table, "f") == .integer(13))
    #expect(kind(table, "g") == .integer(.max))
    #expect(kind(table, "h") == .integer(.min))
}

@Test func floatsWithExponentsInfinityAndNaN() throws {
    let table = try parse("a = 6.626e-34\nb = -2E+2\nc = 224_617.445_991\nd = -inf\ne = nan\nf = 1e06")
    #expect(kind(table, "a") == .float(6.626e-34))
    #expect(kind(table, "b") == .float(-200))
    #expect(kind(table, "c") == .float(224_617.445_991))
    #expect(kind(table, "d") == .float(-.infinity))
    guard case .float(let nan)? = kind(table, "e") else {
        Issue.record("nan is not a float")
        return
    }
    #expect(nan.isNaN)
    #expect(kind(table, "f") == .float(1_000_000))
}

@Test func datesAndTimesAreKeptAsWritten() throws {
    let table = try parse(
        "a = 1979-05-27T07:32:00Z\nb = 1979-05-27 00:32:00.999-07:00\nc = 1979-05-27\nd = 07:32:00\ne = 2000-02-29")
    #expect(kind(table, "a") == .datetime("1979-05-27T07:32:00Z"))
    #expect(kind(table, "b") == .datetime("1979-05-27 00:32:00.999-07:00"))
    #expect(kind(table, "c") == .datetime("1979-05-27"))
    #expect(kind(table, "d") == .datetime("07:32:00"))
    #expect(kind(table, "e") == .datetime("2000-02-29"))
}

@Test func impossibleDatesAreRejected() {
    #expect(failure("a = 1900-02-29") == #"line 1, column 5: invalid date or time "1900-02-29""#)
    #expect(failure("a = 1979-05-27T24:00:00") == #"line 1, column 5: invalid date or time "1979-05-27T24:00:00""#)
    #expect(failure("a = 07:32") == #"line 1, column 5: invalid date or time "07:32""#)
}

@Test func multiLineStringsTrimTheFirstNewlineAndJoinBackslashLines() throws {
    let table = try parse(
        "a = \"\"\"\nline one\nline two\"\"\"\nb = \"\"\"\\\n    The quick \\\n    brown fox\"\"\"\nc = "
            + "'''\nraw \\n'''\nd = \"\"\"\"\"a\"\"\"\"\""
    )
    #expect(kind(table, "a") == .string("line one\nline two"))
    #expect(kind(table, "b") == .string("The quick brown fox"))
    #expect(kind(table, "c") == .string("raw \\n"))
    #expect(kind(table, "d") == .string("\"\"a\"\""))
}

@Test func keysKeepSourceOrderAndTheirLines() throws {
    let table = try parse("zeta = 1\n\n# comment\nalpha = 2\n[middle]\nx = 3\n")
    #expect(table.keys == ["zeta", "alpha", "middle"])
    #expect(table.entries.map(\.line) == [1, 4, 5])
    #expect(table.entry("alpha")?.value.line == 4)
    #expect(table.entry("alpha")?.value.column == 9)
}

@Test func arrayElementsRecordTheirOwnLines() throws {
    let table = try parse("a = [\n  1,\n  \"two\", # comment\n  [3],\n]\n")
    guard case .array(let elements)? = table["a"]?.kind else {
        Issue.record("not an array")
        return
    }
    #expect(elements.map(\.line) == [2, 3, 4])
    #expect(elements.map(\.typeDescription) == ["an integer", "a string", "an array"])
}

@Test func dottedKeysQuotedKeysAndInlineTablesBuildNestedTables() throws {
    let table = try parse(
        """
        site."google.com".up = true
        point = { x = 1, y.z = 2 }
        "" = "empty key"
        [a . b]
        c = 1
        """)
    #expect(kind(table, "site", "google.com", "up") == .boolean(true))
    #expect(kind(table, "point", "y", "z") == .integer(2))
    #expect(kind(table, "") == .string("empty key"))
    #expect(kind(table, "a", "b", "c") == .integer(1))
}

@Test func arraysOfTablesAppendAndNestUnderTheirLastElement() throws {
    let table = try parse(
        """
        [[fruit]]
        name = "apple"
        [fruit.physical]
        color = "red"
        [[fruit.variety]]
        name = "red delicious"
        [[fruit]]
        name = "banana"
        """)
    guard case .array(let fruits)? = table["fruit"]?.kind else {
        Issue.record("not an array")
        return
    }
    #expect(fruits.map(\.line) == [1, 7])
    guard case .table(let apple) = fruits[0].kind else {
        Issue.record("not a table")
        return
    }
    #expect(kind(apple, "physical", "color") == .string("red"))
    guard case .array(let varieties)? = apple["variety"]?.kind else {
        Issue.record("no varieties")
        return
    }
    #expect(varieties.count == 1)
}

@Test func duplicateKeysNameTheKeyAndTheFirstLine() {
    #expect(failure("a = 1\nb = 2\na = 3") == "line 3, column 1: a: duplicate key (first defined on line 1)")
    #expect(failure("x = { y = 1, y = 2 }") == "line 1, column 14: y: duplicate key (first defined on line 1)")
}

@Test func tablesCannotBeDefinedTwice() {
    #expect(failure("[a]\nx = 1\n[b]\n[a]") == "line 4, column 2: a: table [a] is defined twice (first on line 1)")
    #expect(
        failure("[a]\nb.c = 1\n[a.b]")
            == "line 3, column 4: a.b: table [a.b] was already defined with dotted keys on line 2")
}

@Test func inlineTablesAndStaticArraysCannotBeExtended() {
    #expect(
        failure("a = {x = 1}\na.y = 2")
            == "line 2, column 1: a: cannot use a as a table: it is already a table (line 1), and inline tables "
            + "cannot be extended"
    )
    #expect(
        failure("a = [1]\n[[a]]")
            == "line 2, column 3: a: cannot define [[a]]: a is already an array (line 1), and static arrays "
            + "cannot be appended to"
    )
}

@Test func dottedKeysCannotReopenATableDefinedByAHeader() {
    #expect(
        failure("[a.b.c]\nz = 9\n[a]\nb.c.t = 1")
            == "line 4, column 3: a.b.c: cannot add to table [a.b.c] with dotted keys: it is defined by a "
            + "header on line 1"
    )
}

@Test func syntaxErrorsPointAtLineAndColumn() {
    #expect(failure("a = 1\nb = \n") == "line 2, column 5: expected a value, found end of line")
    #expect(failure("a = 1 2") == #"line 1, column 7: expected a newline after the value, found "2""#)
    #expect(failure("name \"x\"") == #"line 1, column 6: expected '=' after the key name, found '"'"#)
    #expect(failure("[table\nx = 1") == "line 1, column 7: expected ']' to close the table header, found end of line")
    #expect(failure("a = \"open") == "line 1, column 5: unterminated string")
    #expect(failure("a = [1,,2]") == #"line 1, column 8: expected a value, found ",""#)
    #expect(failure("a = {x = 1,}") == #"line 1, column 12: expected a key, found "}""#)
}

@Test func escapesAndControlCharactersAreChecked() {
    #expect(failure(#"a = "\x41""#) == #"line 1, column 6: invalid escape sequence \x"#)
    #expect(failure(#"a = "\ud800""#) == #"line 1, column 6: \ud800 is not a Unicode scalar value"#)
    #expect(failure("a = 1 # bell \u{7}") == "line 1, column 14: control character U+0007 is not allowed in a comment")
    #expect(failure("a = \"tab\tok\u{1}\"") == "line 1, column 12: control character U+0001 is not allowed in a string")
}

@Test func numbersOutsideTheGrammarOrRangeAreRejected() {
    #expect(failure("a = 01") == #"line 1, column 5: invalid number "01""#)
    #expect(failure("a = 1__0") == #"line 1, column 5: invalid number "1__0""#)
    #expect(failure("a = 1.") == #"line 1, column 5: invalid number "1.""#)
    #expect(
        failure("a = 9223372036854775808")
            == "line 1, column 5: integer 9223372036854775808 does not fit in 64 bits")
    #expect(failure("a = 0xFFFFFFFFFFFFFFFF") == "line 1, column 5: integer 0xFFFFFFFFFFFFFFFF does not fit in 64 bits")
}

@Test func deepNestingIsAnErrorNotACrash() {
    #expect(failure("a = " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) == "no error")
    #expect(
        failure("a = " + String(repeating: "[", count: 100_000))
            == "line 1, column 105: arrays and inline tables nested more than 100 deep")
    #expect(
        failure("a = " + String(repeating: "{b = ", count: 101))
            == "line 1, column 505: arrays and inline tables nested more than 100 deep")
}

@Test func crlfLineEndingsAreLineEndings() throws {
    let table = try parse("a = 1\r\nb = \"\"\"x\r\ny\"\"\"\r\nc = 3\r\n")
    #expect(kind(table, "b") == .string("x\ny"))
    #expect(table.entry("c")?.line == 4)
    #expect(failure("a = 1\rb = 2") == #"line 1, column 6: expected a newline after the value, found "\x0D""#)
}

@Test func columnsCountCharactersNotBytes() {
    #expect(failure("\"é✓\" = 1 x") == #"line 1, column 10: expected a newline after the value, found "x""#)
}

@Test func keysAreQuotedForMessagesOnlyWhenTheyMustBe() {
    #expect(TOML.formatKeyPath(["limits", "nofile"]) == "limits.nofile")
    #expect(TOML.formatKeyPath(["environment", "A B", ""]) == #"environment."A B"."""#)
    #expect(TOML.quote("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
}
