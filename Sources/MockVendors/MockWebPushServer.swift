import Foundation
import Synchronization

/// A mock Web Push service: endpoints `/push/<id>` that record the encrypted bodies and headers, and
/// answer 201 unless scripted (404/410 gone, 429, 5xx).
public final class MockWebPushServer: Sendable {
    public struct Delivery: Sendable {
        public var id: String
        public var headers: [String: String]
        public var body: Data
        public var status: Int
    }

    final class State: Sendable {
        let deliveries = Mutex<[Delivery]>([])
        let scripts = Mutex<[String: Int]>([:])
    }

    private let server: MockHTTP2Server
    private let state: State

    public static func start(certificateFile: String, privateKeyFile: String, host: String = "127.0.0.1", port: Int = 0) async throws -> MockWebPushServer {
        let state = State()
        let server = try await MockHTTP2Server.start(certificateFile: certificateFile, privateKeyFile: privateKeyFile, host: host, port: port) { request in
            guard request.method == "POST", request.path.hasPrefix("/push/") else { return MockHTTPResponse(status: 404) }
            let id = String(request.path.dropFirst("/push/".count))
            var status = state.scripts.withLock { $0[id] } ?? 201
            // RFC 8030: TTL is mandatory; RFC 8291: the body is aes128gcm.
            if request.headers["ttl"] == nil || request.headers["content-encoding"] != "aes128gcm" { status = 400 }
            state.deliveries.withLock { $0.append(Delivery(id: id, headers: request.headers, body: request.body, status: status)) }
            let location = status == 201 ? "/message/\(UUID().uuidString)" : "/push/\(id)-redirected"
            return MockHTTPResponse(status: status, headers: status == 201 || (300..<400).contains(status) ? [("location", location)] : [])
        }
        return MockWebPushServer(server: server, state: state)
    }

    private init(server: MockHTTP2Server, state: State) {
        self.server = server
        self.state = state
    }

    public func endpoint(_ id: String) -> String { server.url + "/push/" + id }
    public var port: Int { server.port }
    public var received: [Delivery] { state.deliveries.withLock { $0 } }

    public func script(_ id: String, status: Int) {
        state.scripts.withLock { $0[id] = status }
    }

    public func stop() async {
        await server.stop()
    }
}
