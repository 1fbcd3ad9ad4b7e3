@testable import APNs
import Crypto
import Foundation
import HeraldCore
import HeraldHarness
import HeraldHTTP2
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import NIOSSL
import Testing
import VendorSupport

private let token = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0"

func registration(environment: APNsEnvironment = .production, dialect: RegistrationDialect = .p2, voip: String? = nil) -> Registration {
    Registration(
        node: "node-1", secret: "s", app: "chat", service: .apns, dialect: dialect, token: token, voipToken: voip,
        environment: environment, accountDomain: "example.org", pushAccount: dialect == .tigase ? "juliet@example.org" : nil,
        deviceKey: "d", createdAt: Date()
    )
}

func push(_ pushClass: PushClass = .alert, registration: Registration = registration(), publish: Publish? = nil, content: ContentPolicy = .init()) -> PushRequest {
    PushRequest(
        registration: registration,
        publish: publish ?? Publish(node: "node-1", publisherDomain: "example.org", summary: .init(messageCount: 2, lastMessageSender: "romeo@example.org", lastMessageBody: "hi")),
        pushClass: pushClass,
        content: content
    )
}

/// Starts a mock APNs (two: production and sandbox) and a provider pointed at them.
private struct Fixture {
    let production: MockAPNsServer
    let sandbox: MockAPNsServer
    let provider: APNsProvider
    let tokens: APNsTokenManager

    static func make(key: P256.Signing.PrivateKey? = nil, clock: any ServerClock = SystemClock(), lifetime: Duration = APNsTokenManager.defaultLifetime) async throws -> Fixture {
        let credentials = try ExampleKeys.mockAPNsCredentials()
        let production = try await MockAPNsServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, credentials: credentials)
        let sandbox = try await MockAPNsServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, credentials: credentials)
        let tokens = APNsTokenManager(key: try key ?? ExampleKeys.apnsKey(), keyID: ExampleKeys.apnsKeyID, teamID: ExampleKeys.apnsTeamID, lifetime: lifetime, clock: clock)
        let provider = try APNsProvider(
            // These tests are about answers, not time: timeouts that a busy machine cannot hit (the suite's
            // first seconds start every test's mocks and servers at once, and a connect once took over 10 s).
            configuration: .init(
                topic: "org.example.chat", productionURL: production.url, sandboxURL: sandbox.url, requestTimeout: .seconds(60),
                trustRootsFile: ExampleKeys.tlsCertificatePath, connection: .init(connectTimeout: .seconds(60))
            ),
            authentication: .token(tokens),
            logger: Logger(label: "test")
        )
        return Fixture(production: production, sandbox: sandbox, provider: provider, tokens: tokens)
    }

    func stop() async {
        await provider.shutdown()
        await production.stop()
        await sandbox.stop()
    }
}

@Suite(.timeLimit(.minutes(1))) struct APNsProviderTests {
    @Test func alertIsDeliveredWithAValidJWTAndAppleHeaders() async throws {
        let fixture = try await Fixture.make()
        let outcome = await fixture.provider.send(push(.alert))
        guard case .delivered(let id?, nil) = outcome else {
            Issue.record("not delivered: \(outcome)")
            return
        }
        let request = try #require(fixture.production.requests.first)
        #expect(request.status == 200)
        #expect(request.issuer == ExampleKeys.apnsTeamID)
        #expect(request.deviceToken == token)
        #expect(request.headers["apns-push-type"] == "alert")
        #expect(request.headers["apns-priority"] == "10")
        #expect(request.headers["apns-topic"] == "org.example.chat")
        #expect(request.headers["apns-id"] == id)
        #expect(UUID(uuidString: id) != nil && id == id.lowercased())
        let expiration = try #require(Int(request.headers["apns-expiration"] ?? ""))
        #expect(abs(expiration - Int(Date().timeIntervalSince1970) - 86_400) < 60)
        #expect(request.headers["apns-collapse-id"]?.hasPrefix("herald-") == true)
        #expect(request.body == #"{"aps":{"alert":{"title":"New message"},"sound":"default","mutable-content":1},"unread-messages":2}"#)
        await fixture.stop()
    }

    @Test func backgroundPushIsPriorityFiveWithContentAvailableOnly() async throws {
        let fixture = try await Fixture.make()
        guard case .delivered = await fixture.provider.send(push(.background, publish: Publish(node: "node-1", publisherDomain: "example.org"))) else {
            Issue.record("background push not delivered")
            return
        }
        let request = try #require(fixture.production.requests.first)
        #expect(request.status == 200)
        #expect(request.headers["apns-push-type"] == "background")
        #expect(request.headers["apns-priority"] == "5")
        #expect(request.body == #"{"aps":{"content-available":1}}"#)
        await fixture.stop()
    }

    @Test func voipGoesToThePushKitTokenAndTopic() async throws {
        let fixture = try await Fixture.make()
        let call = Publish(node: "node-1", publisherDomain: "example.org", encrypted: .init(payload: "Y2lwaGVy", iv: "aXY=", type: "voip"))
        _ = await fixture.provider.send(push(.voip, registration: registration(dialect: .tigase, voip: "abcdef12"), publish: call))
        let request = try #require(fixture.production.requests.first)
        #expect(request.status == 200)
        #expect(request.deviceToken == "abcdef12")
        #expect(request.headers["apns-topic"] == "org.example.chat.voip")
        #expect(request.headers["apns-push-type"] == "voip")
        #expect(request.headers["apns-collapse-id"] == nil)
        #expect(request.body == #"{"aps":{},"account":"juliet@example.org","encrypted":"Y2lwaGVy","iv":"aXY="}"#)
        await fixture.stop()
    }

    /// Openfire's clients choose per publish (`sandbox` publish-option), whatever the registration says.
    @Test(arguments: [(APNsEnvironment.sandbox, APNsEnvironment.production), (.production, .sandbox)])
    func aPublishThatNamesAnEnvironmentGoesThere(asked: APNsEnvironment, registered: APNsEnvironment) async throws {
        let fixture = try await Fixture.make()
        let publish = Publish(node: "n", publisherDomain: "example.org", environment: asked)
        let outcome = await fixture.provider.send(push(registration: registration(environment: registered), publish: publish))
        guard case .delivered(_, nil) = outcome else {
            Issue.record("not delivered where asked: \(outcome)")
            return
        }
        #expect(fixture.sandbox.requestCount == (asked == .sandbox ? 1 : 0))
        #expect(fixture.production.requestCount == (asked == .production ? 1 : 0))
        await fixture.stop()
    }

    @Test func sandboxRegistrationsGoToTheSandbox() async throws {
        let fixture = try await Fixture.make()
        _ = await fixture.provider.send(push(registration: registration(environment: .sandbox)))
        #expect(fixture.sandbox.requestCount == 1)
        #expect(fixture.production.requestCount == 0)
        await fixture.stop()
    }

    @Test func aTokenTheOtherEnvironmentAcceptsIsDeliveredThereAndReported() async throws {
        let fixture = try await Fixture.make()
        fixture.production.script(token, .badDeviceToken)
        let outcome = await fixture.provider.send(push())
        guard case .delivered(let id?, .sandbox?) = outcome else {
            Issue.record("not delivered through the sandbox: \(outcome)")
            return
        }
        #expect(fixture.production.requestCount == 1)
        #expect(fixture.sandbox.requests.map(\.deviceToken) == [token])
        #expect(fixture.sandbox.requests.first?.headers["apns-id"] == id, "the same notification, so the same apns-id")
        await fixture.stop()
    }

    @Test func onlyATokenBothEnvironmentsRefuseOrA410IsDead() async throws {
        let fixture = try await Fixture.make()
        fixture.production.script(token, .badDeviceToken)
        fixture.sandbox.script(token, .badDeviceToken)
        #expect(await fixture.provider.send(push()) == .deadToken(reason: "BadDeviceToken"))
        fixture.production.script(token, .unregistered)
        #expect(await fixture.provider.send(push()) == .deadToken(reason: "Unregistered"))
        #expect(fixture.sandbox.requestCount == 1, "410 is dead in either environment: no second try")
        fixture.production.script(token, .badDeviceToken)
        fixture.sandbox.script(token, .unavailable)
        #expect(await fixture.provider.send(push()) == .retry(reason: "ServiceUnavailable", retryAfter: nil))
        await fixture.stop()
    }

    @Test(arguments: [
        (MockAPNsServer.Script.unregistered, PushOutcome.deadToken(reason: "Unregistered")),
        (.failure(status: 410, reason: "ExpiredToken"), .deadToken(reason: "ExpiredToken")),
        (.failure(status: 400, reason: "DeviceTokenNotForTopic"), .deadToken(reason: "DeviceTokenNotForTopic")),
        (.unavailable, .retry(reason: "ServiceUnavailable", retryAfter: nil)),
        (.failure(status: 500, reason: "InternalServerError"), .retry(reason: "InternalServerError", retryAfter: nil)),
        (.tooManyRequests(retryAfter: 7), .retry(reason: "TooManyRequests", retryAfter: .seconds(7))),
        (.failure(status: 400, reason: "IdleTimeout"), .retry(reason: "IdleTimeout", retryAfter: nil)),
        (.failure(status: 403, reason: "BadCertificateEnvironment"), .credentials(reason: "BadCertificateEnvironment")),
        (.failure(status: 429, reason: "TooManyProviderTokenUpdates"), .credentials(reason: "TooManyProviderTokenUpdates")),
        (.failure(status: 413, reason: "PayloadTooLarge"), .rejected(reason: "PayloadTooLarge")),
        (.failure(status: 400, reason: "BadTopic"), .rejected(reason: "BadTopic")),
    ])
    func vendorAnswersMapToOutcomes(script: MockAPNsServer.Script, expected: PushOutcome) async throws {
        let fixture = try await Fixture.make()
        fixture.production.script(token, script)
        #expect(await fixture.provider.send(push()) == expected)
        await fixture.stop()
    }

    @Test func wrongSigningKeyIsACredentialProblem() async throws {
        let fixture = try await Fixture.make(key: P256.Signing.PrivateKey())
        #expect(await fixture.provider.send(push()) == .credentials(reason: "InvalidProviderToken"))
        await fixture.stop()
    }

    @Test func expiredProviderTokenIsRenewedAndThePushSentOnce() async throws {
        // The token is issued two hours ago but the manager believes it still fresh, as after a clock
        // jump: Apple answers ExpiredProviderToken and the provider must renew and resend.
        let clock = ManualClock(start: Date().addingTimeInterval(-7200))
        let fixture = try await Fixture.make(clock: clock, lifetime: .seconds(3 * 3600))
        _ = try fixture.tokens.bearer()
        clock.advance(by: .seconds(7200))
        guard case .delivered = await fixture.provider.send(push()) else {
            Issue.record("not delivered after renewal")
            return
        }
        #expect(fixture.production.requests.map(\.reason) == ["ExpiredProviderToken", nil])
        await fixture.stop()
    }

    @Test func unreachableVendorIsRetried() async throws {
        let tokens = APNsTokenManager(key: try ExampleKeys.apnsKey(), keyID: ExampleKeys.apnsKeyID, teamID: ExampleKeys.apnsTeamID)
        let port = try LoopbackPort.free()
        let provider = try APNsProvider(
            configuration: .init(topic: "t", productionURL: "https://127.0.0.1:\(port)", sandboxURL: "https://127.0.0.1:\(port)", requestTimeout: .seconds(2)),
            authentication: .token(tokens), logger: Logger(label: "test")
        )
        guard case .retry = await provider.send(push()) else {
            Issue.record("an unreachable vendor must be retried")
            return
        }
        await provider.shutdown()
    }

    @Test func aPushTheVendorDidNotAnswerIsUnconfirmedNotRetried() async throws {
        // Written, then no verdict: APNs may have taken it, so it must not be queued to go again.
        let mock = try await MockAPNsServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, credentials: nil)
        let slowToken = String(repeating: "5", count: 64)
        mock.script(slowToken, .slow(milliseconds: 60_000))
        let tokens = APNsTokenManager(key: try ExampleKeys.apnsKey(), keyID: ExampleKeys.apnsKeyID, teamID: ExampleKeys.apnsTeamID)
        let provider = try APNsProvider(
            configuration: .init(topic: "t", productionURL: mock.url, sandboxURL: mock.url, requestTimeout: .seconds(10), trustRootsFile: ExampleKeys.tlsCertificatePath),
            authentication: .token(tokens), logger: Logger(label: "test")
        )
        // Connected first, so the push under test is written and its whole timeout spent waiting. A
        // machine busy with the rest of the suite can time the warm-up out too; then it goes again.
        let warm = await eventually(timeout: .seconds(40)) {
            if case .delivered = await provider.send(push()) { return true }
            return false
        }
        guard warm else { Issue.record("the warm-up push was not delivered"); return }
        var slow = push()
        slow.registration.token = slowToken
        let outcome = await provider.send(slow)
        #expect(outcome == .unconfirmed(reason: .unknown("timedOut")))
        await provider.shutdown()
        await mock.stop()
    }

    @Test func manyConcurrentPushesAreAllDelivered() async throws {
        let fixture = try await Fixture.make()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 { group.addTask { _ = await fixture.provider.send(push()) } }
        }
        #expect(fixture.production.requestCount == 200)
        #expect(fixture.production.requests.allSatisfy { $0.status == 200 })
        await fixture.stop()
    }
}

/// Certificate authentication against a mock that, like APNs, refuses connections without a client
/// certificate it trusts.
@Suite(.timeLimit(.minutes(1))) struct APNsCertificateAuthenticationTests {
    static func provider(_ configure: (inout APNsProvider.Configuration) -> Void, mock: MockAPNsServer) throws -> APNsProvider {
        var configuration = APNsProvider.Configuration(
            topic: "org.example.chat", productionURL: mock.url, sandboxURL: mock.url, requestTimeout: .seconds(60), trustRootsFile: ExampleKeys.tlsCertificatePath,
            connection: .init(connectTimeout: .seconds(60))
        )
        configure(&configuration)
        return try APNsProvider(configuration: configuration, authentication: .certificate, logger: Logger(label: "test"))
    }

    static func mock() async throws -> MockAPNsServer {
        try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            credentials: nil, clientCertificateTrustRoots: ExampleKeys.apnsCertificatePath
        )
    }

    @Test func pemCertificateAndKeyAreAccepted() async throws {
        let mock = try await Self.mock()
        let provider = try Self.provider({
            $0.certificateFile = ExampleKeys.apnsCertificatePath
            $0.privateKeyFile = ExampleKeys.apnsCertificateKeyPath
        }, mock: mock)
        let outcome = await provider.send(push(.alert))
        guard case .delivered = outcome else { Issue.record("not delivered: \(outcome)"); return }
        #expect(mock.requests.first?.headers["authorization"] == nil, "certificate auth sends no provider token")
        await provider.shutdown()
        await mock.stop()
    }

    @Test func pkcs12BundleIsAccepted() async throws {
        let mock = try await Self.mock()
        let provider = try Self.provider({
            $0.pkcs12File = ExampleKeys.apnsPKCS12Path
            $0.pkcs12Password = ExampleKeys.apnsPKCS12Password
        }, mock: mock)
        let outcome = await provider.send(push(.alert))
        guard case .delivered = outcome else { Issue.record("not delivered: \(outcome)"); return }
        #expect(mock.requestCount == 1)
        await provider.shutdown()
        await mock.stop()
    }

    @Test func withoutAClientCertificateTheConnectionIsRefusedAndThePushKept() async throws {
        let mock = try await Self.mock()
        let provider = try Self.provider({ _ in }, mock: mock)
        let outcome = await provider.send(push(.alert))
        guard case .retry = outcome else { Issue.record("expected a retry, got \(outcome)"); return }
        #expect(mock.requestCount == 0)
        await provider.shutdown()
        await mock.stop()
    }

    @Test func aWrongPKCS12PasswordIsAConfigurationError() throws {
        var configuration = APNsProvider.Configuration(topic: "org.example.chat")
        configuration.pkcs12File = ExampleKeys.apnsPKCS12Path
        configuration.pkcs12Password = "wrong"
        let error = #expect(throws: BoringSSLError.self) { _ = try configuration.clientIdentity() }
        #expect("\(String(describing: error))".contains("INCORRECT_PASSWORD"))
    }
}
