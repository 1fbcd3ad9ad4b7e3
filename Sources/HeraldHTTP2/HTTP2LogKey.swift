/// Logger metadata keys of the HTTP/2 client, defined once.
public enum HTTP2LogKey {
    public static let host = "http2.host"
    public static let error = "http2.error"
    public static let retireReason = "http2.retire_reason"
    public static let proxyTarget = "http2.proxy.target"
    public static let proxyStatus = "http2.proxy.status"
    public static let proxyProblem = "http2.proxy.problem"
}
