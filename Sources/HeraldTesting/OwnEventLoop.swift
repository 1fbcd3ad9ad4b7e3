import NIOCore
import NIOPosix

/// Runs `body` with an event-loop thread of its own, shut down afterwards.
///
/// Tests run in parallel on a two-core machine, and NIO's shared loops serve all of them: a volume
/// test's traffic (thousands of frames through debug-built TLS and HTTP/2) queued everything else on
/// those loops behind it for tens of seconds, and tests that wait on timers or connections failed
/// beside it. A loop of its own is scheduled by the kernel beside the others instead.
public func withOwnEventLoop<T>(_ body: (any EventLoopGroup) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
        let result = try await body(group)
        try await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}
