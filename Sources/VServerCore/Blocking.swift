import Dispatch
import VServerConfig
import VServerProtocol

/// Runs blocking work (a clone that waits for the child's exec, a hook script) on a Dispatch thread, so the
/// cooperative pool that runs actors and NIO callbacks never waits on a syscall.
func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
