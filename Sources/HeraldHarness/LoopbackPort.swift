import Foundation
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
            if canBind(port) { return port }
        }
        throw Exhausted()
    }

    /// Binds and closes a TCP socket on the port, with plain syscalls: neither returns before the
    /// kernel has answered, and neither waits on another thread (as a NIO bind's `wait()` would, holding
    /// a cooperative thread).
    private static func canBind(_ port: Int) -> Bool {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static let handedOut = Mutex<Set<Int>>([])
}
