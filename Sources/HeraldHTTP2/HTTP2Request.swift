import NIOCore

/// One request to a vendor host: method, path, regular headers and an optional body.
public struct HTTP2Request: Sendable {
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: ByteBuffer?
    /// Overrides the client's request timeout for this request.
    public var timeout: Duration?

    public init(method: String = "POST", path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil, timeout: Duration? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}
