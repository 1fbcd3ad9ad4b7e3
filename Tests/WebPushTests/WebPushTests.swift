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
private struct Subscriber {
    let key = P256.KeyAgreement.PrivateKey()
    let auth = Data((0..<16).map { _ in UInt8.random(in: .min ... .max) })
    var p256dh: Data { key.publicKey.x963Representation }
    var keys: WebPushKeys { WebPushKeys(p256dh: Base64URL.encode(p256dh), auth: Base64URL.encode(auth)) }
}

private func registration(endpoint: String, subscriber: Subscriber) -> Registration {
    Registration(
        node: "node-1", secret: "s", app: "chat", service: .webpush, dialect: .webpush, token: endpoint,
        webPushKeys: subscriber.keys, accountDomain: "example.org", deviceKey: "d", createdAt: Date()
    )
}

private func push(_ registration: Registration, _ pushClass: PushClass = .alert, content: ContentPolicy = .init()) -> PushRequest {
    PushRequest(
        registration: registration,
        publish: Publish(node: "node-1", publisherDomain: "example.org", summary: .init(messageCount: 2, lastMessageSender: "romeo@example.org", lastMessageBody: "secret words")),
        pushClass: pushClass, content: content
    )
}

/// Decrypts with the independent `http_ece` package: argv = body, subscriber private key (PEM), auth.
private let decryptScript = """
    import sys, http_ece
    from cryptography.hazmat.primitives import serialization
    body = open(sys.argv[1], "rb").read()
    key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
    auth = open(sys.argv[3], "rb").read()
    plaintext = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
    sys.stdout.write(plaintext.decode())
    """

@Suite(.timeLimit(.minutes(1))) struct WebPushTests {
    @Test func encryptedBodyDecryptsWithAnIndependentImplementation() throws {
        let subscriber = Subscriber()
        let plaintext = Data(#"{"type":"push","priority":"high"}"#.utf8)
        let body = try WebPushEncryption.encrypt(plaintext, p256dh: subscriber.p256dh, auth: subscriber.auth)
        #expect(body.count == 16 + 4 + 1 + 65 + plaintext.count + 1 + 16)
        let (status, output) = try PythonCheck.run(decryptScript, files: [body, Data(subscriber.key.pemRepresentation.utf8), subscriber.auth])
        #expect(status == 0, "http_ece: \(output)")
        #expect(output == String(decoding: plaintext, as: UTF8.self))
    }

    @Test func everyMessageHasAFreshKeyAndSalt() throws {
        let subscriber = Subscriber()
        let first = try WebPushEncryption.encrypt(Data("a".utf8), p256dh: subscriber.p256dh, auth: subscriber.auth)
        let second = try WebPushEncryption.encrypt(Data("a".utf8), p256dh: subscriber.p256dh, auth: subscriber.auth)
        #expect(first.prefix(16) != second.prefix(16))
        #expect(first[21..<86] != second[21..<86])
    }

    @Test func vapidHeaderVerifiesWithPyJWT() throws {
        let clock = ManualClock(start: Date())
        let vapid = VAPID(key: try ExampleKeys.vapidKey(), subject: "mailto:ops@example.org", clock: clock)
        let header = try vapid.authorization(for: URL(string: "https://push.example.net:8443/push/abc")!)
        #expect(try vapid.authorization(for: URL(string: "https://push.example.net:8443/other")!) == header, "cached per origin")
        let (status, output) = try PythonCheck.run(
            """
            import sys, time, base64, jwt
            from cryptography.hazmat.primitives.asymmetric import ec
            header = open(sys.argv[1]).read()
            assert header.startswith("vapid t="), header
            token = header[len("vapid t="):].split(", k=")[0]
            k = header.split(", k=")[1]
            point = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims = jwt.decode(token, key, algorithms=["ES256"], audience="https://push.example.net:8443")
            assert claims["sub"] == "mailto:ops@example.org", claims
            assert 0 < claims["exp"] - time.time() <= 24 * 3600, claims
            print("ok")
            """,
            files: [Data(header.utf8)]
        )
        #expect(status == 0, "PyJWT: \(output)")
    }

    @Test func deliversToTheEndpointWithRFC8030Headers() async throws {
        let mock = try await MockWebPushServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath)
        let provider = try makeProvider(allowPrivateEndpoints: true)
        let subscriber = Subscriber()
        let outcome = await provider.send(push(registration(endpoint: mock.endpoint("sub1"), subscriber: subscriber)))
        #expect(outcome == .delivered(id: nil), "\(outcome)")
        let delivery = try #require(mock.received.first)
        #expect(delivery.headers["ttl"] == "86400")
        #expect(delivery.headers["urgency"] == "high")
        #expect(delivery.headers["content-encoding"] == "aes128gcm")
        #expect(delivery.headers["topic"]?.count ?? 99 <= 32)
        #expect(delivery.headers["authorization"]?.hasPrefix("vapid t=") == true)
        let (status, output) = try PythonCheck.run(decryptScript, files: [delivery.body, Data(subscriber.key.pemRepresentation.utf8), subscriber.auth])
        #expect(status == 0, "http_ece: \(output)")
        #expect(output.contains(#""priority":"high""#))
        #expect(output.contains(#""unread":2"#))
        #expect(!output.contains("secret words"), "no message text unless the app allows it")
        await provider.shutdown()
        await mock.stop()
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
        let mock = try await MockWebPushServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath)
        mock.script("gone", status: 410)
        let provider = try makeProvider(allowPrivateEndpoints: true)
        #expect(await provider.send(push(registration(endpoint: mock.endpoint("gone"), subscriber: Subscriber()))) == .deadToken(reason: "HTTP 410"))
        await provider.shutdown()
        await mock.stop()
    }

    @Test func redirectsAreNotFollowed() async throws {
        let mock = try await MockWebPushServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath)
        mock.script("moved", status: 307)
        let provider = try makeProvider(allowPrivateEndpoints: true)
        #expect(await provider.send(push(registration(endpoint: mock.endpoint("moved"), subscriber: Subscriber()))) == .rejected(reason: "HTTP 307"))
        #expect(mock.received.map(\.id) == ["moved"], "the redirect's target was never asked")
        await provider.shutdown()
        await mock.stop()
    }

    @Test func endpointsOnPrivateAddressesAreNeverContacted() async throws {
        let mock = try await MockWebPushServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath)
        let provider = try makeProvider(allowPrivateEndpoints: false)
        let loopback = mock.endpoint("inside")
        #expect(await provider.send(push(registration(endpoint: loopback, subscriber: Subscriber()))) == .deadToken(reason: "invalid subscription"))
        let named = loopback.replacingOccurrences(of: "127.0.0.1", with: "localhost.")
        #expect(await provider.send(push(registration(endpoint: named, subscriber: Subscriber()))).isDeadToken)
        #expect(mock.received.isEmpty)
        // A name is judged by every address it resolves to.
        #expect(await WebPushProvider.resolvesPublicly("localhost") == .notPublic)
        #expect(await WebPushProvider.resolvesPublicly("127.0.0.1") == .notPublic)
        #expect(await WebPushProvider.resolvesPublicly("no-such-host.invalid") == .unresolved)
        await provider.shutdown()
        await mock.stop()
    }
}

extension PushOutcome {
    fileprivate var isDeadToken: Bool { if case .deadToken = self { true } else { false } }
}

/// A provider trusting the mock's certificate; the mock listens on loopback, which only tests allow.
private func makeProvider(allowPrivateEndpoints: Bool) throws -> WebPushProvider {
    try WebPushProvider(
        vapid: VAPID(key: try ExampleKeys.vapidKey(), subject: "mailto:ops@example.org"),
        configuration: .init(trustRootsFile: ExampleKeys.tlsCertificatePath, allowPrivateEndpoints: allowPrivateEndpoints),
        logger: Logger(label: "test")
    )
}
