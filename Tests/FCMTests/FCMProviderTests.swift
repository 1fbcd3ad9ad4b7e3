import CryptoExtras
import Foundation
import HeraldCore
import HeraldHTTP2
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import FCM

private func account() throws -> ServiceAccount {
    try ServiceAccount(json: Data(contentsOf: URL(fileURLWithPath: ExampleKeys.fcmServiceAccountPath)))
}

func registration(token: String = "fcm-token-1", dialect: RegistrationDialect = .p2, channel: String? = nil) -> Registration {
    Registration(
        node: "node-1", secret: "s", app: "chat", service: .fcm, dialect: dialect, token: token,
        accountDomain: "example.org", pushAccount: "c773892af3806b9a0496456ba00664b1b5a08116", channel: channel,
        deviceKey: "d", createdAt: Date()
    )
}

func push(_ pushClass: PushClass = .alert, registration: Registration = registration(), content: ContentPolicy = .init()) -> PushRequest {
    PushRequest(
        registration: registration,
        publish: Publish(node: "node-1", publisherDomain: "example.org", summary: .init(messageCount: 3, lastMessageSender: "romeo@example.org", lastMessageBody: "hi")),
        pushClass: pushClass, content: content
    )
}

private struct Fixture {
    let mock: MockFCMServer
    let provider: FCMProvider

    static func make(clock: any ServerClock = SystemClock(), notification: Bool = false) async throws -> Fixture {
        let account = try account()
        let mock = try await MockFCMServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            publicKey: account.privateKey.publicKey, projectID: account.projectID
        )
        let provider = try FCMProvider(
            account: account,
            // Timeouts a busy machine cannot hit: these tests are about answers, not time.
            configuration: .init(
                endpoint: mock.url, tokenURI: mock.tokenURI, requestTimeout: .seconds(60), trustRootsFile: ExampleKeys.tlsCertificatePath,
                notification: notification, connection: .init(connectTimeout: .seconds(60))
            ),
            logger: Logger(label: "test"), clock: clock
        )
        return Fixture(mock: mock, provider: provider)
    }

    func stop() async {
        await provider.shutdown()
        await mock.stop()
    }
}

@Suite(.timeLimit(.minutes(1))) struct FCMProviderTests {
    @Test func deliversWithAnOAuthTokenFromAVerifiedAssertion() async throws {
        let fixture = try await Fixture.make()
        let outcome = await fixture.provider.send(push())
        guard case .delivered(let name?, _) = outcome else {
            Issue.record("not delivered: \(outcome)")
            return
        }
        #expect(name.hasPrefix("projects/herald-example/messages/"))
        #expect(fixture.mock.tokenRequests == 1)
        #expect(fixture.mock.messages.first?.token == "fcm-token-1")
        await fixture.stop()
    }

    @Test func accessTokenIsCachedAndFetchedOnceForConcurrentRequests() async throws {
        let fixture = try await Fixture.make()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { _ = await fixture.provider.send(push()) } }
        }
        _ = await fixture.provider.send(push())
        #expect(fixture.mock.messages.count == 51)
        #expect(fixture.mock.messages.allSatisfy { $0.status == 200 })
        #expect(fixture.mock.tokenRequests == 1)
        await fixture.stop()
    }

    @Test func accessTokenIsRefreshedBeforeItExpiresWithAnInjectedClock() async throws {
        let clock = ManualClock(start: Date())
        let fixture = try await Fixture.make(clock: clock)
        _ = await fixture.provider.send(push())
        clock.advance(by: .seconds(3000))  // within 3600 s minus the 300 s margin
        _ = await fixture.provider.send(push())
        #expect(fixture.mock.tokenRequests == 1)
        clock.advance(by: .seconds(400))  // past 3300 s
        _ = await fixture.provider.send(push())
        #expect(fixture.mock.tokenRequests == 2)
        await fixture.stop()
    }

    @Test func refusedAccessTokenIsRefreshedOnceAndThePushResent() async throws {
        let fixture = try await Fixture.make()
        _ = await fixture.provider.send(push())
        fixture.mock.revokeAccessTokens()
        guard case .delivered = await fixture.provider.send(push()) else {
            Issue.record("not delivered after refresh")
            return
        }
        #expect(fixture.mock.tokenRequests == 2)
        #expect(fixture.mock.messages.map(\.status) == [200, 200])
        await fixture.stop()
    }

    @Test(arguments: [500, 503, 429])
    func aTokenEndpointOutageIsARetryAndFetchesBackOff(status: Int) async throws {
        let clock = ManualClock(start: Date())
        let fixture = try await Fixture.make(clock: clock)
        fixture.mock.failTokenRequests([status, status])
        #expect(await fixture.provider.send(push()) == .retry(reason: "token endpoint unavailable", retryAfter: nil))
        // Within the backoff every push fails at once, without asking the endpoint again.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = await fixture.provider.send(push()) } }
        }
        #expect(fixture.mock.tokenRequests == 1)
        clock.advance(by: .seconds(2))
        #expect(await fixture.provider.send(push()) == .retry(reason: "token endpoint unavailable", retryAfter: nil))
        #expect(fixture.mock.tokenRequests == 2)
        // The second failure in a row doubles the backoff (1 s, then up to 2 s, jittered by half).
        clock.advance(by: .seconds(0.5))
        _ = await fixture.provider.send(push())
        #expect(fixture.mock.tokenRequests == 2)
        clock.advance(by: .seconds(2))
        guard case .delivered = await fixture.provider.send(push()) else {
            Issue.record("not delivered once the token endpoint recovered")
            return
        }
        #expect(fixture.mock.tokenRequests == 3)
        #expect(fixture.mock.messages.count == 1, "no push was sent without a token")
        await fixture.stop()
    }

    @Test(arguments: [400, 401, 403])
    func aRefusedServiceAccountIsACredentialsError(status: Int) async throws {
        let fixture = try await Fixture.make()
        fixture.mock.failTokenRequests([status])
        #expect(await fixture.provider.send(push()) == .credentials(reason: .unknown("token endpoint answered \(status)")))
        await fixture.stop()
    }

    @Test(arguments: [
        (MockFCMServer.Script.unregistered, PushOutcome.deadToken(reason: "UNREGISTERED")),
        (.senderIDMismatch, .deadToken(reason: "SENDER_ID_MISMATCH")),
        (.invalidToken, .deadToken(reason: "INVALID_ARGUMENT token")),
        (.invalidArgument, .rejected(reason: "INVALID_ARGUMENT")),
        (.quotaExceeded(retryAfter: 30), .retry(reason: "QUOTA_EXCEEDED", retryAfter: .seconds(30))),
        (.error(status: 429, code: "QUOTA_EXCEEDED"), .retry(reason: "QUOTA_EXCEEDED", retryAfter: .seconds(60))),
        (.error(status: 429, code: "RESOURCE_EXHAUSTED"), .retry(reason: "RESOURCE_EXHAUSTED", retryAfter: .seconds(60))),
        (.unavailable, .retry(reason: "UNAVAILABLE", retryAfter: nil)),
        (.internalError, .retry(reason: "INTERNAL", retryAfter: nil)),
        (.thirdPartyAuth, .credentials(reason: "THIRD_PARTY_AUTH_ERROR")),
    ])
    func everyErrorClass(script: MockFCMServer.Script, expected: PushOutcome) async throws {
        let fixture = try await Fixture.make()
        fixture.mock.script("fcm-token-1", script)
        #expect(await fixture.provider.send(push()) == expected)
        await fixture.stop()
    }

    @Test func assertionVerifiesWithPyJWT() async throws {
        let account = try account()
        let tokens = FCMAccessTokens(
            account: account,
            client: try HTTP2ClientForTests.unused(),
            tokenPath: "/token"
        )
        let assertion = try tokens.makeAssertion(issuedAt: Date())
        let (status, output) = try await PythonCheck.run(
            """
            import sys, json, jwt
            from cryptography.hazmat.primitives import serialization
            token = open(sys.argv[1]).read()
            account = json.load(open(sys.argv[2]))
            key = serialization.load_pem_private_key(account["private_key"].encode(), None).public_key()
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=account["token_uri"])
            header = jwt.get_unverified_header(token)
            assert header["kid"] == account["private_key_id"], header
            assert claims["iss"] == account["client_email"], claims
            assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging", claims
            assert isinstance(claims["iat"], int) and 0 < claims["exp"] - claims["iat"] <= 3600, claims
            print("ok")
            """,
            files: [Data(assertion.utf8), try Data(contentsOf: URL(fileURLWithPath: ExampleKeys.fcmServiceAccountPath))]
        )
        #expect(status == 0, "PyJWT: \(output)")
    }
}
