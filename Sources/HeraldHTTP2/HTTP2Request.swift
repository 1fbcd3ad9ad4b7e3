import NIOCore

/// One request to a vendor host: method, path, regular headers and an optional body.
public struct HTTP2Request: Sendable {
    public var method: String
    public var path: String
    /// Headers that stay the same from request to request on a connection (a topic, a bearer token):
    /// HPACK keeps them in its dynamic table, and after the first request each costs a byte or two.
    public var headers: [(String, String)]
    /// Headers whose values change with every request (ids, dates): sent without indexing, so that they
    /// do not push the constant ones out of the dynamic table.
    public var unindexedHeaders: [(String, String)]
    /// Whether the path is worth indexing: not when it names a device, as APNs' do.
    public var indexesPath: Bool
    public var body: ByteBuffer?
    /// Overrides the client's request timeout for this request.
    public var timeout: Duration?

    public init(
        method: String = "POST", path: String, headers: [(String, String)] = [], unindexedHeaders: [(String, String)] = [],
        indexesPath: Bool = true, body: ByteBuffer? = nil, timeout: Duration? = nil
    ) {
        self.method = method
        self.path = path
        self.headers = headers
        self.unindexedHeaders = unindexedHeaders
        self.indexesPath = indexesPath
        self.body = body
        self.timeout = timeout
    }
}
