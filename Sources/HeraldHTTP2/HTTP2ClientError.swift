/// Why a request got no response. What a caller may do next depends on `mayHaveBeenProcessed`: a
/// request the server may have acted on is not sent again unless the vendor asks, since a push sent
/// twice is a notification shown twice.
public enum HTTP2ClientError: Error, Sendable, Hashable {
    /// Written, and no answer before the deadline.
    case timedOut
    /// Written, and the connection failed before the answer.
    case connectionLost
    /// Written, and the server reset the stream (other than REFUSED_STREAM).
    case streamReset
    /// The server answered something that is not an HTTP response.
    case malformedResponse
    /// No connection could take the request before its deadline (connect failed, or every connection
    /// tried refused it unprocessed): it never reached the server.
    case unavailable
    /// The client was shut down.
    case shutDown

    /// Whether the server may have acted on the request, so sending it again could duplicate it.
    public var mayHaveBeenProcessed: Bool {
        switch self {
        case .timedOut, .connectionLost, .streamReset, .malformedResponse: true
        case .unavailable, .shutDown: false
        }
    }
}
