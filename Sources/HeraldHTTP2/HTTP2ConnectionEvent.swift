/// Why a connection stopped taking requests. Raw values are metric labels.
public enum HTTP2RetireReason: String, Sendable, Hashable, CaseIterable {
    /// The server sent GOAWAY.
    case goAway = "goaway"
    /// A PING went unanswered: the peer is gone or hung.
    case pingTimeout = "ping_timeout"
    /// Several requests in a row timed out.
    case requestTimeouts = "request_timeouts"
    /// The connection used the last stream id it may.
    case streamIDsExhausted = "stream_ids_exhausted"
    /// The connection closed or failed underneath.
    case closed = "closed"
}

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
