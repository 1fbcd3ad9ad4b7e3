import Synchronization

/// The live state of one component connection, for readiness checks and tests.
public final class ComponentStatus: Sendable {
    public enum State: Sendable, Hashable {
        case connecting
        case connected
        case disconnected(reason: String)
        /// Another connection holds the domain (`conflict`); retrying at the standby interval.
        case standby
        case stopped
    }

    private let state = Mutex<(current: State, connections: Int, attempts: Int, lastDisconnect: String?)>((.connecting, 0, 0, nil))

    public init() {}

    public var current: State { state.withLock { $0.current } }
    public var isConnected: Bool { current == .connected }
    /// Waiting as a hot standby while another connection holds the domain.
    public var isStandby: Bool { current == .standby }
    /// How many times the handshake has succeeded since start.
    public var establishedConnections: Int { state.withLock { $0.connections } }
    /// Why the connection was last lost or refused (a stream error condition, or a short reason).
    public var lastDisconnectReason: String? { state.withLock { $0.lastDisconnect } }
    /// How many times a connection has been attempted since start.
    public var connectionAttempts: Int { state.withLock { $0.attempts } }

    func update(_ newState: State) {
        state.withLock {
            if newState == .connected { $0.connections += 1 }
            if newState == .connecting { $0.attempts += 1 }
            if case .disconnected(let reason) = newState { $0.lastDisconnect = reason }
            $0.current = newState
        }
    }
}
