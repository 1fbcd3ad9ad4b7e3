import NIOCore
import NIOPosix
import Synchronization

/// Ports for the servers a test or benchmark starts, on 127.0.0.1 only.
public enum LoopbackPort {
    public struct Exhausted: Error, CustomStringConvertible {
        public var description: String { "no free port between 20000 and 32000" }
    }

    /// A port that was free a moment ago on 127.0.0.1, chosen below the ephemeral range (32768 and up
    /// on Linux): a port the kernel handed out for binding port 0 can be taken by any outgoing
    /// connection before the server that is meant to have it binds it.
    ///
    /// A port is handed out once per process: tests run concurrently, and two of them picking the same
    /// free port before either binds it had one test's Herald talk XMPP to another test's HTTP server.
    public static func free() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000..<32_000)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if let channel = try? ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: port).wait()
            {
                try? channel.close().wait()
                return port
            }
        }
        throw Exhausted()
    }

    private static let handedOut = Mutex<Set<Int>>([])
}
