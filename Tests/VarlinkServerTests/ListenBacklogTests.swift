import Dispatch
import Foundation
import Glibc
import Logging
import NIOPosix
import Synchronization
import Testing

import VServerProtocol
import VarlinkServer

/// A burst of clients while the server's one event loop is busy waits in the listen queue: NIO listened again with
/// its default backlog of 128 when it took over the socket, and a non-blocking connect() beyond that got EAGAIN
/// (asyncio then reported a lost connection; scripts/load with 200 clients saw hundreds).
@Test func aBurstOfConnectsWaitsInTheQueueWhileTheEventLoopIsBusy() async throws {
    let (path, group, running) = try await startServer()
    // The event loop is stuck from now on: nothing is accepted, every connect is queued or refused.
    let release = DispatchSemaphore(value: 0)
    group.next().execute { release.wait() }
    var clients: [Int32] = []
    var refused = 0
    for _ in 0..<300 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        #expect(fd >= 0)
        if connect(fd, path) != 0 {
            #expect(errno == EAGAIN, "connect: \(String(cString: strerror(errno)))")
            refused += 1
        }
        clients.append(fd)
    }
    #expect(refused == 0, "\(refused) of 300 connects got EAGAIN: the listen backlog is too small")
    release.signal()
    for fd in clients { close(fd) }
    try await stop(running, group: group, path: path)
}

/// A ControlServer with no interfaces of its own on a socket in a new temporary directory, serving (it answered a
/// call) on an event loop group of its own.
private func startServer() async throws -> (String, MultiThreadedEventLoopGroup, Task<Void, any Error>) {
    var template = Array("/tmp/vserverd-backlog.XXXXXX".utf8CString)
    let directory = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map {
        String(cString: $0)
    })
    let path = "\(directory)/socket"
    let listener = try makeListeningSocket(path: path, mode: 0o600, group: nil)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let server = ControlServer(
        listeningSocket: listener, interfaces: [], connectionsPerUID: 10_000,
        refusal: { _, _ in VarlinkError(name: "test.Refused", parameters: [:]) },
        internalError: { VarlinkError(name: "test.Internal", parameters: ["reason": .string($0)]) },
        version: "0", logger: Logger(label: "test"), group: group)
    let running = Task { try await server.run() }
    try await waitForAnswer(path)
    return (path, group, running)
}

/// The server stops while clients keep connecting: the connections it accepted but no longer serves are closed.
/// NIO trapped on their dropped writers: vserverd crashed (SIGILL) on a SIGTERM while clients connected.
/// Three rounds: the stop does not always catch a connection between accept and serve.
@Test func theServerStopsCleanlyWhileClientsKeepConnecting() async throws {
    for _ in 0..<3 {
        let (path, group, running) = try await startServer()
        let connecting = Atomic(true)
        let connects = Atomic(0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            while connecting.load(ordering: .relaxed) {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                if connect(fd, path) == 0 { connects.add(1, ordering: .relaxed) }
                close(fd)
            }
            done.signal()
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while connects.load(ordering: .relaxed) < 500 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await stop(running, group: group, path: path)
        connecting.store(false, ordering: .relaxed)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { done.wait(); continuation.resume() }
        }
    }
}

/// Stops the server, then waits (10 s at most) until every socket of `path` is closed: the listener and the
/// connections accepted but never served. Removes the socket and its directory.
private func stop(_ running: Task<Void, any Error>, group: MultiThreadedEventLoopGroup, path: String) async throws {
    running.cancel()
    _ = try? await running.value
    let deadline = ContinuousClock.now + .seconds(10)
    while socketsBound(to: path) > 0 && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(20))
    }
    #expect(socketsBound(to: path) == 0, "sockets of \(path) are left open after the server stopped")
    try await group.shutdownGracefully()
    _ = unlink(path)
    _ = rmdir(String(path.dropLast("/socket".count)))
}

/// Sockets of this network namespace bound to `path`: a listener and the connections it accepted.
private func socketsBound(to path: String) -> Int {
    let table = (try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8)) ?? ""
    return table.split(separator: "\n").filter { $0.hasSuffix(" \(path)") }.count
}

private func connect(_ fd: Int32, _ path: String) -> Int32 {
    guard let address = UnixSocketAddress(path: path) else { return -1 }
    return address.withSockaddr { Glibc.connect(fd, $0, $1) }
}

/// Polls (5 s at most) until org.varlink.service.GetInfo on `path` is answered; on a Dispatch thread, since a
/// blocking read on the concurrency pool could starve the server it waits for.
private func waitForAnswer(_ path: String) async throws {
    let answered = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                let call = Array(#"{"method":"org.varlink.service.GetInfo"}"#.utf8) + [0]
                if connect(fd, path) == 0, write(fd, call, call.count) == call.count {
                    var reply = [UInt8](repeating: 0, count: 4096)
                    if read(fd, &reply, reply.count) > 0 { return continuation.resume(returning: true) }
                }
                usleep(20_000)
            }
            continuation.resume(returning: false)
        }
    }
    #expect(answered, "the server did not answer within 5 s")
}
