
import HeraldHarness
import HeraldTesting
import InMemoryLogging
import Logging
import Testing
import XMLStream

@testable import XMPPComponent

/// Herald's component connection against a real Prosody 0.12 started for each test.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ComponentProsodyTests {
    private static let secret = "component-secret-for-tests"

    private func makeService(prosody: ProsodyServer, secret: String = Self.secret, logs: InMemoryLogHandler = .init()) -> ComponentService {
        let router = ComponentRouter(identity: testIdentity, extraFeatures: [testFeature])
        return ComponentService(
            configuration: ComponentConfiguration(
                domain: "push.localhost",
                secret: secret,
                host: "127.0.0.1",
                port: prosody.componentPort,
                reconnectSchedule: FixedReconnectDelay(.milliseconds(50))
            ),
            router: router,
            logger: Logger(label: "test") { _ in logs }
        )
    }

    @Test func handshakeSucceedsAndClientsGetDiscoAndPingAnswers() async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        try await prosody.register(user: "romeo", password: "pass")
        try await prosody.start()
        defer { prosody.terminate() }
        let service = makeService(prosody: prosody)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected }, "log: \(prosody.log.suffix(2000))")
            let client = try await TestXMPPClient.connect(
                port: prosody.clientPort, username: "romeo", domain: "localhost", password: "pass"
            )
            let push = JID(domain: "push.localhost")
            let info = try await client.request(type: "get", to: push, payload: StreamElement("query", namespace: Namespace.discoInfo))
            #expect(info.stanzaType == "result")
            let identity = info.child("query")?.child("identity")
            #expect(identity?[attribute: "category"] == "pubsub")
            #expect(identity?[attribute: "type"] == "push")
            let features = info.child("query")?.children("feature").compactMap { $0[attribute: "var"] } ?? []
            #expect(features.contains(testFeature))

            let pong = try await client.request(type: "get", to: push, payload: StreamElement("ping", namespace: Namespace.ping))
            #expect(pong.stanzaType == "result")
            #expect(pong[attribute: "from"] == "push.localhost")

            let version = try await client.request(type: "get", to: push, payload: StreamElement("query", namespace: "jabber:iq:version"))
            #expect(version.stanzaType == "error")
            #expect(version.child("error")?.child("service-unavailable") != nil)
            await client.close()
        }
    }

    @Test func wrongSecretIsReportedClearlyAndRetriedWithBackoff() async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        try await prosody.start()
        defer { prosody.terminate() }
        let logs = InMemoryLogHandler()
        let service = makeService(prosody: prosody, secret: "not-the-secret", logs: logs)
        let refusal: Logger.Message = "component authentication refused: check the component secret"
        try await whileRunning({ await service.run() }) {
            // Waits for the refusals themselves: under load Prosody may open its port a moment before the
            // component host is up, and an attempt then ends without reaching the handshake.
            #expect(await eventually(timeout: .seconds(30)) { logs.entries.filter { $0.message == refusal }.count >= 2 })
        }
        #expect(service.status.connectionAttempts >= 2)
        #expect(service.status.establishedConnections == 0)
        let refusals = logs.entries.filter { $0.message == refusal }
        #expect(refusals.count >= 2)
        #expect(refusals.first?.metadata[ComponentLogKey.streamCondition] == "not-authorized")
    }

    @Test func reconnectsByItselfWhenProsodyRestarts() async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        try await prosody.start()
        defer { prosody.terminate() }
        let service = makeService(prosody: prosody)
        try await whileRunning({ await service.run() }) {
            // Generous: the first connection competes with the whole suite starting up.
            #expect(await eventually(timeout: .seconds(30)) { service.status.isConnected })
            await prosody.stop()
            #expect(await eventually { !service.status.isConnected })
            try await prosody.start()
            #expect(await eventually(timeout: .seconds(20)) { service.status.establishedConnections == 2 && service.status.isConnected })
        }
    }
}
