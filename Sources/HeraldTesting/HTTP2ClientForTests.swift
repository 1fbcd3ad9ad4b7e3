import HeraldHTTP2

/// Clients for tests that need one but never send through it.
public enum HTTP2ClientForTests {
    public static func unused() throws -> HTTP2Client {
        try HTTP2Client(configuration: .init(host: "127.0.0.1", port: 9))
    }
}
