import Crypto
import Foundation
import HeraldCore
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import WebPush

/// A subscriber's keys, as a browser or UnifiedPush distributor makes them.
struct Subscriber {
    let key = P256.KeyAgreement.PrivateKey()
    let auth = Data((0..<16).map { _ in UInt8.random(in: .min ... .max) })
    var p256dh: Data { key.publicKey.x963Representation }
    var keys: WebPushKeys { WebPushKeys(p256dh: Base64URL.encode(p256dh), auth: Base64URL.encode(auth)) }
}

func registration(endpoint: String, subscriber: Subscriber) -> Registration {
    Registration(
        node: "node-1", secret: "s", app: "chat", service: .webpush, dialect: .webpush, token: endpoint,
        webPushKeys: subscriber.keys, accountDomain: "example.org", deviceKey: "d", createdAt: Date()
    )
}

func push(_ registration: Registration, _ pushClass: PushClass = .alert, content: ContentPolicy = .init()) -> PushRequest {
    PushRequest(
        registration: registration,
        publish: Publish(node: "node-1", publisherDomain: "example.org", summary: .init(messageCount: 2, lastMessageSender: "romeo@example.org", lastMessageBody: "secret words")),
        pushClass: pushClass, content: content
    )
}

/// Decrypts with the independent `http_ece` package: argv = body, subscriber private key (PEM), auth.
let decryptScript = """
    import sys, http_ece
    from cryptography.hazmat.primitives import serialization
    body = open(sys.argv[1], "rb").read()
    key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
    auth = open(sys.argv[3], "rb").read()
    plaintext = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
    sys.stdout.write(plaintext.decode())
    """

@Suite(.timeLimit(.minutes(1))) struct WebPushProviderTests {
    @Test func deliversToTheEndpointWithRFC8030Headers() async throws {
        try await withProviderAndMock { provider, mock in
            let subscriber = Subscriber()
            let outcome = await provider.send(push(registration(endpoint: mock.endpoint("sub1"), subscriber: subscriber)))
            #expect(outcome == .delivered(id: nil), "\(outcome)")
            let delivery = try #require(mock.received.first)
            #expect(delivery.headers["ttl"] == "86400")
            #expect(delivery.headers["urgency"] == "high")
            #expect(delivery.headers["content-encoding"] == "aes128gcm")
            #expect(delivery.headers["topic"]?.count ?? 99 <= 32)
            #expect(delivery.headers["authorization"]?.hasPrefix("vapid t=") == true)
            let (status, output) = try await PythonCheck.run(decryptScript, files: [delivery.body, Data(subscriber.key.pemRepresentation.utf8), subscriber.auth])
            #expect(status == 0, "http_ece: \(output)")
            #expect(output.contains(#""priority":"high""#))
            #expect(output.contains(#""unread":2"#))
            #expect(!output.contains("secret words"), "no message text unless the app allows it")
        }
    }

    @Test(arguments: [(404, "dead"), (410, "dead"), (429, "retry"), (503, "retry"), (500, "retry"), (413, "rejected"), (400, "rejected"), (401, "credentials"), (403, "credentials")])
    func responsesMapToOutcomes(status: Int, kind: String) {
        let outcome = WebPushProvider.outcome(status: status, retryAfter: nil)
        switch (outcome, kind) {
        case (.deadToken, "dead"), (.retry, "retry"), (.rejected, "rejected"), (.credentials, "credentials"): break
        default: Issue.record("\(status) became \(outcome)")
        }
    }

    @Test func goneSubscriptionIsADeadToken() async throws {
        try await withProviderAndMock { provider, mock in
            mock.script("gone", status: 410)
            #expect(await provider.send(push(registration(endpoint: mock.endpoint("gone"), subscriber: Subscriber()))) == .deadToken(reason: "HTTP 410"))
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        try await withProviderAndMock { provider, mock in
            mock.script("moved", status: 307)
            #expect(await provider.send(push(registration(endpoint: mock.endpoint("moved"), subscriber: Subscriber()))) == .rejected(reason: "HTTP 307"))
            #expect(mock.received.map(\.id) == ["moved"], "the redirect's target was never asked")
        }
    }

    @Test func endpointsOnPrivateAddressesAreNeverContacted() async throws {
        try await withProviderAndMock(allowPrivateEndpoints: false) { provider, mock in
            let loopback = mock.endpoint("inside")
            #expect(await provider.send(push(registration(endpoint: loopback, subscriber: Subscriber()))) == .deadToken(reason: "invalid subscription"))
            let named = loopback.replacingOccurrences(of: "127.0.0.1", with: "localhost.")
            #expect(await provider.send(push(registration(endpoint: named, subscriber: Subscriber()))).isDeadToken)
            #expect(mock.received.isEmpty)
            // A name is judged by every address it resolves to.
            #expect(await WebPushProvider.resolvesPublicly("localhost") == .notPublic)
            #expect(await WebPushProvider.resolvesPublicly("127.0.0.1") == .notPublic)
            #expect(await WebPushProvider.resolvesPublicly("no-such-host.invalid") == .unresolved)
        }
    }
}

extension PushOutcome {
    fileprivate var isDeadToken: Bool { if case .deadToken = self { true } else { false } }
}

/// Runs `body` with a mock push service and a provider trusting its certificate (the mock listens on
/// loopback, which only tests allow), and shuts both down however `body` ends: a provider released
/// without `shutdown()` stops the whole test process, so a failed `#require` used to crash every test.
private func withProviderAndMock(
    allowPrivateEndpoints: Bool = true, _ body: (WebPushProvider, MockWebPushServer) async throws -> Void
) async throws {
    let key = try ExampleKeys.vapidKey()
    let mock = try await MockWebPushServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath)
    let provider = WebPushProvider(
        vapid: VAPID(key: key, subject: "mailto:ops@example.org"),
        configuration: .init(trustRootsFile: ExampleKeys.tlsCertificatePath, allowPrivateEndpoints: allowPrivateEndpoints),
        logger: Logger(label: "test")
    )
    let outcome: Result<Void, any Error>
    do {
        try await body(provider, mock)
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    await provider.shutdown()
    await mock.stop()
    try outcome.get()
}
