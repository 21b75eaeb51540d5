import Glibc
import Testing

import VServerConfig
import VServerTestSupport

/// Invalid vserver.toml files, each with the error `vserverctl check` and `list` show for it (ETC stands for the
/// configuration directory, TREE for the temporary directory around it). The loader reads each as the only
/// vserver of a fresh directory.
enum InvalidConfigCorpus {
    /// (vserver.toml, error)
    static let cases: [(String, String)] = [
        (
            "hostname = \"web\n",
            "ETC/web/vserver.toml:1:16: unterminated string: a string in \"quotes\" ends on its line (use \"\"\" "
            + "for more lines)"
        ),
        (
            "hostname = 'web\n",
            "ETC/web/vserver.toml:1:16: unterminated string: a string in 'quotes' ends on its line (use ''' for "
            + "more lines)"
        ),
        ("hostname = \"\"\"web\n", "ETC/web/vserver.toml:1:12: unterminated multi-line string"),
        ("context = 10 20\n", "ETC/web/vserver.toml:1:14: expected a newline after the value, found \"2\""),
        ("context =\n", "ETC/web/vserver.toml:1:10: expected a value, found end of line"),
        ("= 1042\n", "ETC/web/vserver.toml:1:1: expected a key, found \"=\""),
        ("[namespaces\n", "ETC/web/vserver.toml:1:12: expected ']' to close the table header, found end of line"),
        (
            "[[mount]\n",
            "ETC/web/vserver.toml:1:9: expected ']]' to close the array-of-tables header, found end of line"
        ),
        ("[namespaces]]\n", "ETC/web/vserver.toml:1:13: expected a newline after the table header, found \"]\""),
        ("a.b = 1\na = 2\n", "ETC/web/vserver.toml:2:1: a: duplicate key (first defined on line 1)"),
        (
            "[namespaces]\n[namespaces]\n",
            "ETC/web/vserver.toml:2:2: namespaces: table [namespaces] is defined twice (first on line 1)"
        ),
        (
            "[[mount]]\n[mount]\n",
            "ETC/web/vserver.toml:2:2: mount: cannot define [mount]: it is an array of tables ([[mount]] on line 1)"
        ),
        (
            "context = 1042\ncontext = 1043\n",
            "ETC/web/vserver.toml:2:1: context: duplicate key (first defined on line 1)"
        ),
        (
            "environment = { A = \"x\" }\n[environment]\nB = \"y\"\n",
            "ETC/web/vserver.toml:2:2: environment: cannot define [environment]: the key is already a table (line 1)"
        ),
        ("hostname = \"web\" # ok\nautostart = yes\n", "ETC/web/vserver.toml:2:13: expected a value, found \"y\""),
        ("autostart = TRUE\n", "ETC/web/vserver.toml:1:13: expected a value, found \"T\""),
        ("context = 0x\n", "ETC/web/vserver.toml:1:11: invalid number \"0x\""),
        ("context = 1_\n", "ETC/web/vserver.toml:1:11: invalid number \"1_\""),
        ("context = 1__000\n", "ETC/web/vserver.toml:1:11: invalid number \"1__000\""),
        ("context = +\n", "ETC/web/vserver.toml:1:11: invalid number \"+\""),
        ("stop-timeout = 1979-05-27\n", "ETC/web/vserver.toml:1: stop-timeout: expected an integer, found a date-time"),
        ("hostname = \"\\x41\"\n", "ETC/web/vserver.toml:1:13: invalid escape sequence \\x"),
        ("hostname = \"a\\u12\"\n", "ETC/web/vserver.toml:1:14: \\u needs 4 hexadecimal digits"),
        ("hostname = \"\\uD800\"\n", "ETC/web/vserver.toml:1:13: \\uD800 is not a Unicode scalar value"),
        (
            "context = 99999999999999999999\n",
            "ETC/web/vserver.toml:1:11: integer 99999999999999999999 does not fit in 64 bits"
        ),
        ("hostnme = \"web\"\n", "ETC/web/vserver.toml:1: hostnme: unknown key; did you mean \"hostname\"?"),
        ("Context = 1042\n", "ETC/web/vserver.toml:1: Context: unknown key; did you mean \"context\"?"),
        (
            "[namespace]\nnet = \"veth\"\n",
            "ETC/web/vserver.toml:1: namespace: unknown key; did you mean \"namespaces\"?"
        ),
        ("[limits]\nnofiles = 1024\n", "ETC/web/vserver.toml:2: limits.nofiles: unknown key; did you mean \"nofile\"?"),
        ("context = 1042.0\n", "ETC/web/vserver.toml:1: context: expected an integer, found a float"),
        ("context = true\n", "ETC/web/vserver.toml:1: context: expected an integer, found a boolean"),
        ("root = 42\n", "ETC/web/vserver.toml:1: root: expected a string, found an integer"),
        ("root = \"relative/path\"\n", "ETC/web/vserver.toml:1: root: must be an absolute path, not \"relative/path\""),
        ("root = \"/\"\n", "ETC/web/vserver.toml:1: root: must not be \"/\", the host's root directory"),
        ("root = \"/nonexistent/web\"\n", "ETC/web/vserver.toml:1: root: /nonexistent/web does not exist"),
        ("hostname = \"\"\n", "ETC/web/vserver.toml:1: hostname: must not be empty"),
        ("hostname = \"-web\"\n", "ETC/web/vserver.toml:1: hostname: must start with a letter or digit: \"-web\""),
        (
            "domainname = \"example org\"\n",
            "ETC/web/vserver.toml:1: domainname: \" \" is not allowed in a hostname (letters, digits, \"-\", \".\", "
            + "\"_\")"
        ),
        ("autostart = \"true\"\n", "ETC/web/vserver.toml:1: autostart: expected a boolean, found a string"),
        ("after = \"db\"\n", "ETC/web/vserver.toml:1: after: expected an array of strings, found a string"),
        ("after = [\"web\"]\n", "ETC/web/vserver.toml:1: after: a vserver cannot come after itself"),
        ("after = [\"nosuch\"]\n", "ETC/web/vserver.toml:1: after: unknown vserver \"nosuch\""),
        ("command = []\n", "ETC/web/vserver.toml:1: command: must not be an empty array"),
        ("command = \"nginx\"\n", "ETC/web/vserver.toml:1: command: expected an array of strings, found a string"),
        (
            "init = [\"/sbin/init\"]\ncommand = [\"sleep\", \"1\"]\n",
            "ETC/web/vserver.toml:2: command: init and command are mutually exclusive (init is set on line 1)"
        ),
        (
            "init-style = \"upstart\"\n",
            "ETC/web/vserver.toml:1: init-style: must be \"auto\", \"systemd\", \"sysv\", \"plain\" or \"rc\", not "
            + "\"upstart\""
        ),
        (
            "on-reboot = \"panic\"\n",
            "ETC/web/vserver.toml:1: on-reboot: must be \"restart\" or \"stop\", not \"panic\""
        ),
        (
            "stop-signal = \"SIGFOO\"\n",
            "ETC/web/vserver.toml:1: stop-signal: unknown signal \"SIGFOO\" (use a name like \"SIGTERM\" or "
            + "\"SIGRTMIN+3\")"
        ),
        (
            "stop-signal = 0\n",
            "ETC/web/vserver.toml:1: stop-signal: unknown signal \"0\" (use a name like \"SIGTERM\" or "
            + "\"SIGRTMIN+3\")"
        ),
        (
            "stop-signal = \"rtmin+99\"\n",
            "ETC/web/vserver.toml:1: stop-signal: unknown signal \"rtmin+99\" (use a name like \"SIGTERM\" or "
            + "\"SIGRTMIN+3\")"
        ),
        (
            "stop-timeout = -1\n",
            "ETC/web/vserver.toml:1: stop-timeout: must be an integer from 1 to 3600 (seconds), not -1"
        ),
        (
            "hook-timeout = 3601\n",
            "ETC/web/vserver.toml:1: hook-timeout: must be an integer from 1 to 3600 (seconds), not 3601"
        ),
        ("shell = []\n", "ETC/web/vserver.toml:1: shell: must not be an empty array"),
        (
            "timezone = \"../../etc/passwd\"\n",
            "ETC/web/vserver.toml:1: timezone: must be a zone name like \"Europe/Berlin\""
        ),
        (
            "timezone = \"Mars/Olympus\"\n",
            "ETC/web/vserver.toml:1: timezone: \"Mars/Olympus\" is not a time zone in TREE/zoneinfo"
        ),
        ("environment = [\"A=1\"]\n", "ETC/web/vserver.toml:1: environment: expected a table, found an array"),
        (
            "environment = { \"\" = \"x\" }\n",
            "ETC/web/vserver.toml:1: environment.\"\": an environment variable name must not be empty"
        ),
        (
            "[namespaces]\nnet = \"bridge\"\n",
            "ETC/web/vserver.toml:2: namespaces.net: must be \"host\", \"none\", \"bound\" or \"veth\", not "
            + "\"bridge\""
        ),
        (
            "[namespaces]\nuser = \"yes\"\n",
            "ETC/web/vserver.toml:2: namespaces.user: expected a boolean, found a string"
        ),
        (
            "[namespaces]\nnet = \"veth\"\n[network]\naddress = \"10.0.3.5\"\n",
            "ETC/web/vserver.toml:4: network.address: must be an address with a prefix length like \"10.0.3.5/24\" "
            + "or \"2001:db8::5/64\", not \"10.0.3.5\""
        ),
        (
            "[namespaces]\nnet = \"veth\"\n[network]\naddress = \"300.0.3.5/24\"\n",
            "ETC/web/vserver.toml:4: network.address: must be an address with a prefix length like \"10.0.3.5/24\" "
            + "or \"2001:db8::5/64\", not \"300.0.3.5/24\""
        ),
        (
            "[network]\naddress = \"10.0.3.5/24\"\n",
            "ETC/web/vserver.toml:1: network: a [network] table needs [namespaces] net = \"bound\" or \"veth\" (net "
            + "is \"host\")"
        ),
        (
            "[capabilities]\nadd = [\"CAP_FLY\"]\n",
            "ETC/web/vserver.toml:2: capabilities.add: unknown capability \"CAP_FLY\""
        ),
        (
            "[capabilities]\nadd = \"CAP_SYS_ADMIN\"\n",
            "ETC/web/vserver.toml:2: capabilities.add: expected an array of strings, found a string"
        ),
        (
            "[capabilities]\ndrop = [1]\n",
            "ETC/web/vserver.toml:2: capabilities.drop: expected an array of strings, found an integer in it"
        ),
        ("[limits]\nnofile = -1\n", "ETC/web/vserver.toml:2: limits.nofile: must not be negative, not -1"),
        (
            "[limits]\nnofile = { soft = 4096, hard = 1024 }\n",
            "ETC/web/vserver.toml:2: limits.nofile: the soft limit 4096 is above the hard limit 1024"
        ),
        (
            "[limits]\nnofile = \"lots\"\n",
            "ETC/web/vserver.toml:2: limits.nofile: expected an integer or \"unlimited\", not \"lots\""
        ),
        (
            "[limits]\nnofile = { soft = 1 }\n",
            "ETC/web/vserver.toml:2: limits.nofile: needs both soft and hard: { soft = N, hard = N }"
        ),
        ("[[mount]]\ntarget = \"/tmp\"\n", "ETC/web/vserver.toml:1: mount[1].source: is required"),
        (
            "[[mount]]\nsource = \"tmpfs\"\ntarget = \"tmp\"\ntype = \"tmpfs\"\n",
            "ETC/web/vserver.toml:3: mount[1].target: must be an absolute path inside the vserver"
        ),
        (
            "[[mount]]\nsource = \"/nonexistent\"\ntarget = \"/srv\"\n",
            "ETC/web/vserver.toml:1: mount[1].type: a filesystem type is required unless the options contain bind "
            + "or rbind"
        ),
        (
            "mount = { source = \"tmpfs\" }\n",
            "ETC/web/vserver.toml:1: mount: expected an array of tables ([[mount]]), found a table"
        ),
        (
            "[resources]\ncpu-max = \"lots\"\n",
            "ETC/web/vserver.toml:2: resources.cpu-max: must be a share of one CPU such as \"150%\" (1.5 CPUs; 1% "
            + "to 100000%), or \"max\", not \"lots\""
        ),
        (
            "[resources]\nmemory-max = \"12Q\"\n",
            "ETC/web/vserver.toml:2: resources.memory-max: must be a size such as \"512M\" (K, M, G, T: powers of "
            + "1024), a number of bytes, or \"max\", not \"12Q\""
        ),
        (
            "[resources]\npids-max = 0\n",
            "ETC/web/vserver.toml:2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not 0"
        ),
        (
            "[resources]\nbogus = 1\n",
            "ETC/web/vserver.toml:2: resources.bogus: unknown key (known keys in [resources]: memory-max, "
            + "memory-high, swap-max, cpu-max, cpu-weight, cpuset, pids-max, io-weight, lxcfs)"
        ),
        (
            "[disk]\nspace-max = \"lots\"\n",
            "ETC/web/vserver.toml:2: disk.space-max: must be a size such as \"512M\" (K, M, G, T: powers of 1024), "
            + "a number of bytes, or \"max\", not \"lots\""
        ),
        (
            "[disk]\ninodes-max = -1\n",
            "ETC/web/vserver.toml:2: disk.inodes-max: must be an integer from 1 to 4294967296 or \"max\", not -1"
        ),
        (
            "[security]\nseccomp = \"maybe\"\n",
            "ETC/web/vserver.toml:2: security.seccomp: must be \"default\" or \"unconfined\", not \"maybe\""
        ),
        ("[security]\nnesting = 1\n", "ETC/web/vserver.toml:2: security.nesting: expected a boolean, found an integer"),
        (
            "kill-sequence = \"TERM x KILL\"\n",
            "ETC/web/vserver.toml:1: kill-sequence: \"x\" is no wait in seconds (0 to 3600) in \"TERM x KILL\""
        ),
        ("runlevels = \"3\"\n", "ETC/web/vserver.toml:1: runlevels: expected a table, found a string"),
        ("marks = \"default\"\n", "ETC/web/vserver.toml:1: marks: expected an array of strings, found a string"),
        (
            "marks = [\"a b\"]\n",
            "ETC/web/vserver.toml:1: marks: \"a b\" is not a mark name (1 to 64 letters, digits, \"-\", \"_\" or "
            + "\".\")"
        ),
    ]

    /// The error the loader gives the one vserver "web" with `toml` as its vserver.toml, ETC for its directory.
    static func error(_ toml: String) -> String? {
        let fixture = ConfigFixture()
        fixture.vserver("web", toml)
        return fixture.error("web").map {
            $0.replacing(fixture.etc, with: "ETC").replacing(fixture.tree.path, with: "TREE")
        }
    }
}

@Suite struct InvalidConfigCorpusTests {
    @Test(arguments: InvalidConfigCorpus.cases)
    func eachInvalidConfigIsRefusedWithItsError(toml: String, expected: String) {
        #expect(InvalidConfigCorpus.error(toml) == expected)
    }

}
