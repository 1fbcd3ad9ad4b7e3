/// What a client's connections go through, for metrics. Logging happens in the client itself.
public enum HTTP2ConnectionEvent: Sendable, Hashable {
    case opened
    /// TCP, TLS or the server's first SETTINGS did not complete within the connect timeout.
    case connectFailed
    case retired(HTTP2RetireReason)
    case pingTimedOut
    /// A request was given back unprocessed and sent again on another connection.
    case requestRerouted
}
