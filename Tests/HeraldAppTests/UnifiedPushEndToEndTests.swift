import AsyncHTTPClient
import Foundation
import HeraldApp
import HeraldCore
import HeraldHarness
import HeraldTesting
import HeraldXMPP
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import MockVendors
import ServiceLifecycle
import Synchronization
import Testing
import XMLStream
import XMPPComponent

/// Herald as a UnifiedPush provider behind a real Prosody: a distributor (a logged-in client, as
/// Conversations is) registers over XMPP, an application server POSTs to the endpoint it got, and the
/// push reaches the client as Prosody's `mod_unified_push` delivers it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct UnifiedPushEndToEndTests {
    private static let secret = "component-secret"

    private func withProvider(_ body: (ProsodyServer, String) async throws -> Void) async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        try await prosody.register(user: "mercutio", password: "pass")
        try await prosody.start()
        defer { prosody.terminate() }
        let port = try LoopbackPort.free()
        // The endpoint serves TLS itself here, with the test certificate for 127.0.0.1.
        let publicURL = "https://127.0.0.1:\(port)"
        let configuration = try HeraldConfiguration.load(path: nil, environment: [
            "HERALD_XMPP__PORT": "\(prosody.componentPort)",
            "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
            "HERALD_COMPONENTS__0__SECRET": Self.secret,
            "HERALD_ADMIN__PORT": "0",
            "HERALD_UNIFIED_PUSH__PUBLIC_URL": publicURL,
            "HERALD_UNIFIED_PUSH__SECRET": "unified-push-secret-0123456789",
            "HERALD_UNIFIED_PUSH__PORT": "\(port)",
            "HERALD_UNIFIED_PUSH__TLS_CERTIFICATE_FILE": ExampleKeys.tlsCertificatePath,
            "HERALD_UNIFIED_PUSH__TLS_KEY_FILE": ExampleKeys.tlsKeyPath,
        ])
        let application = try HeraldApplication(configuration: configuration, logger: Logger(label: "test"), store: InMemoryRegistrationStore())
        let listening = Atomic<Bool>(false)
        let group = application.serviceGroup(signals: false, onUnifiedPushListening: { _ in listening.store(true, ordering: .relaxed) })
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(30)) { application.components[0].status.isConnected && listening.load(ordering: .relaxed) })
            do {
                try await body(prosody, publicURL)
            } catch {
                Issue.record("prosody log tail: \(prosody.log.suffix(3000))")
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// An application server that trusts the test certificate.
    private static let applicationServer: HTTPClient = {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ExampleKeys.tlsCertificatePath)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }()

    private func post(_ endpoint: String, _ body: [UInt8]) async throws -> UInt {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "TTL", value: "60")
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await Self.applicationServer.execute(request, timeout: .seconds(20)).status.code
    }

    @Test func aDistributorRegistersAndTheApplicationServersPushReachesIt() async throws {
        try await withProvider { prosody, publicURL in
            let distributor = try await TestXMPPClient.connect(port: prosody.clientPort, username: "mercutio", domain: "localhost", password: "pass", resource: "conversations")
            let instance = Data(repeating: 7, count: 32).base64EncodedString()
            let application = Data(repeating: 9, count: 32).base64EncodedString()
            let register = StreamElement("register", namespace: UnifiedPushNamespace.unifiedPush, ["instance": instance, "application": application])
            let reply = try await distributor.request(type: "set", to: JID(domain: "push.localhost"), payload: register)
            #expect(reply.stanzaType == "result", "\(reply)")
            let registered = try #require(reply.child("registered", namespace: UnifiedPushNamespace.unifiedPush))
            let endpoint = try #require(registered[attribute: "endpoint"])
            #expect(endpoint.hasPrefix(publicURL + "/push/"))
            #expect(registered[attribute: "expiration"] != nil)

            // The application server pushes 4096 bytes of ciphertext; the distributor answers the iq.
            let payload = [UInt8]((0..<4096).map { UInt8(($0 * 7) % 256) })
            let status = Task { try await post(endpoint, payload) }
            let push = try await distributor.inbox.next("the push", timeout: .seconds(15)) { $0.name == "iq" && $0.child("push", namespace: UnifiedPushNamespace.unifiedPush) != nil }
            let element = try #require(push.child("push", namespace: UnifiedPushNamespace.unifiedPush))
            #expect(element[attribute: "instance"] == instance)
            #expect(element[attribute: "application"] == application)
            #expect(Data(base64Encoded: element.text).map(Array.init) == payload)
            #expect(push[attribute: "from"] == "push.localhost")
            try await distributor.write("<iq type='result' to='push.localhost' id='\(push[attribute: "id"] ?? "")'/>")
            #expect(try await status.value == 201)

            // A forged endpoint never reaches the distributor.
            #expect(try await post(publicURL + "/push/forged.token", [1]) == 404)
            #expect(try await post(endpoint, [UInt8](repeating: 1, count: 4097)) == 413)

            // The distributor goes offline: its server answers for it, and so does the endpoint.
            await distributor.close()
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await post(endpoint, [1, 2, 3]) == 503)
        }
    }
}
