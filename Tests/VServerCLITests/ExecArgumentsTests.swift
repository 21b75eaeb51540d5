import Testing

import VServerCLI

@Suite struct ExecArgumentsTests {
    @Test func nameDashDashAndCommandIsThePlainShape() {
        #expect(ExecArguments.parse(["web", "--", "sh", "-c", "exit 7"])
                == ExecArguments(name: "web", command: ["sh", "-c", "exit 7"]))
        #expect(ExecArguments.parse(["--all", "--", "hostname"])
                == ExecArguments(name: nil, all: true, command: ["hostname"]))
    }

    @Test func socketMayComeBeforeOrAfterTheName() {
        let expected = ExecArguments(name: "web", socket: "/tmp/s", command: ["true"])
        #expect(ExecArguments.parse(["--socket", "/tmp/s", "web", "--", "true"]) == expected)
        #expect(ExecArguments.parse(["web", "--socket", "/tmp/s", "--", "true"]) == expected)
        #expect(ExecArguments.parse(["web", "--socket=/tmp/s", "--", "true"]) == expected)
    }

    @Test func everythingAfterTheFirstDashDashIsTheCommandVerbatim() {
        #expect(ExecArguments.parse(["web", "--", "ls", "--", "--all", "*", ""])?.command
                == ["ls", "--", "--all", "*", ""])
    }

    @Test func otherShapesAreLeftToArgumentParser() {
        for arguments in [
            ["--help"], ["web", "--help", "--", "true"], ["web"], ["web", "--"], ["--", "true"],
            ["web", "db", "--", "true"], ["--all", "web", "--", "true"], ["--all", "--all", "--", "true"],
            ["web", "--socket", "--", "true"], ["web", "--socket", "a", "--socket", "b", "--", "true"],
            ["-x", "web", "--", "true"], ["", "--", "true"],
        ] {
            #expect(ExecArguments.parse(arguments) == nil, "\(arguments)")
        }
    }
}
