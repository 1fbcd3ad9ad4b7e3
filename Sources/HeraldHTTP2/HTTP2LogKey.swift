/// Logger metadata keys of the HTTP/2 client, defined once.
public enum HTTP2LogKey {
    public static let host = "http2.host"
    public static let error = "http2.error"
    public static let retireReason = "http2.retire_reason"
}
