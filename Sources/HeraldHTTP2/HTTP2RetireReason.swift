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
