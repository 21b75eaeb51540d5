#if TESTING_AVAILABLE
import Glibc
import Testing

/// Whether every test must run: scripts/test, which CI runs, installs everything the tests need and sets
/// VSERVERD_TESTS_REQUIRE_ALL=1, so that a test whose requirement is missing there fails instead of skipping in
/// silence. Without it (a developer's machine) such a test is skipped, with the reason.
package let testsRequireAll = getenv("VSERVERD_TESTS_REQUIRE_ALL").map { String(cString: $0) } == "1"

package struct MissingTestRequirement: Error, CustomStringConvertible {
    package var description: String
}

extension Trait where Self == ConditionTrait {
    /// Runs the test (or suite) only when `condition` holds. Otherwise it is skipped ("needs WHAT"), or, with
    /// VSERVERD_TESTS_REQUIRE_ALL=1, fails: a condition that throws records an issue instead of skipping.
    package static func requires(
        _ condition: @autoclosure @escaping @Sendable () -> Bool, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Self {
        .enabled(
            if: try requirement(condition(), what), Comment(rawValue: "needs \(what)"), sourceLocation: sourceLocation)
    }
}

/// `met`, or false to skip, or a failure when every test is required.
package func requirement(_ met: Bool, _ what: String) throws -> Bool {
    if met || !testsRequireAll { return met }
    throw MissingTestRequirement(
        description: "this test needs \(what), which is missing here; VSERVERD_TESTS_REQUIRE_ALL=1 (set by "
            + "scripts/test, which CI runs) makes it required instead of skipped")
}
#endif
