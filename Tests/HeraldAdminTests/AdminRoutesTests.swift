import Foundation
import HeraldCore
import HeraldTesting
import HeraldXMPP
import Hummingbird
import HummingbirdTesting
import Logging
import NIOFoundationEssentialsCompat
import Prometheus
import Testing

@testable import HeraldAdmin

/// The admin routes at router level: every answer an operator or an app can get.
@Suite struct AdminRoutesTests {
    static let token = "test-admin-token-0123456789"
    static let chat = App(name: "chat", services: [.apns, .fcm, .webpush])

    final class Fixture: Sendable {
        let store = InMemoryRegistrationStore()
        let provider = RecordingProvider()
        let registry = PrometheusCollectorRegistry()
        let registrations: RegistrationService
        let dispatcher: PushDispatcher<ManualClock>
        let checks: [ReadinessCheck]

        init(checks: [ReadinessCheck] = [ReadinessCheck(name: "store", ready: true, detail: "ok")], policy: RegistrationPolicy = .init()) {
            registrations = RegistrationService(
                store: store, policy: policy, metrics: HeraldMetrics(factory: PrometheusMetricsFactory(registry: registry), apps: ["chat"])
            )
            dispatcher = PushDispatcher(
                store: store,
                providers: .shared(provider, apps: ["chat"], services: PushVendor.allCases),
                clock: ManualClock(),
                activityFlushInterval: nil,
                logger: Logger(label: "test"),
                metrics: HeraldMetrics(factory: PrometheusMetricsFactory(registry: registry), apps: ["chat"])
            )
            self.checks = checks
        }

        func application(token: String? = AdminRoutesTests.token) -> some ApplicationProtocol {
            let checks = checks
            let dispatcher = dispatcher
            let dependencies = AdminDependencies(
                readiness: { checks },
                metricsRegistry: registry,
                sampleGauges: {},
                registrations: registrations,
                apps: AppDirectory(apps: [AdminRoutesTests.chat], defaultApp: "chat"),
                pubsubService: { $0 == "chat" ? "push.example.com" : nil },
                sendTestPush: { try await dispatcher.sendTestPush(node: $0) },
                parseAccount: AccountAddress.parse
            )
            return Application(router: AdminRoutes.router(dependencies, token: token))
        }
    }

    static var authorized: HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any])
    }

    static let apnsBody = #"{"app":"chat","service":"apns","token":"0a1b2c3d4e5f","account":"Alice@Example.org","device":"phone-1"}"#

    @Test func healthAnswersAlive() async throws {
        try await Fixture().application().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(try Self.json(response.body)["status"] as? String == "alive")
            }
        }
    }

    @Test func readyIsServiceUnavailableWhileAnyCheckFails() async throws {
        let fixture = Fixture(checks: [
            ReadinessCheck(name: "component push.example.com", ready: false, detail: "connecting"),
            ReadinessCheck(name: "store", ready: true, detail: "3 registrations"),
        ])
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response throws in
                #expect(response.status == .serviceUnavailable)
                let body = try Self.json(response.body)
                #expect(body["ready"] as? Bool == false)
                let checks = try #require(body["checks"] as? [[String: Any]])
                #expect(checks.map { $0["name"] as? String } == ["component push.example.com", "store"])
                #expect(checks.first?["detail"] as? String == "connecting")
            }
        }
        try await Fixture().application().test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(try Self.json(response.body)["ready"] as? Bool == true)
            }
        }
    }

    @Test func registrationAPINeedsTheBearerToken() async throws {
        try await Fixture().application().test(.router) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong-token-0123456789"], [.authorization: "Basic \(Self.token)"]] {
                try await client.execute(uri: "/v1/registrations", method: .post, headers: headers, body: ByteBuffer(string: Self.apnsBody)) { response throws in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                }
            }
        }
    }

    @Test func registrationAPIIsOffWithoutAToken() async throws {
        try await Fixture().application(token: nil).test(.router) { client in
            try await client.execute(uri: "/v1/registrations", method: .post, headers: Self.authorized, body: ByteBuffer(string: Self.apnsBody)) { response throws in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func registerAnswersNodeSecretAndServiceThenShowDeleteAndTestPushWork() async throws {
        let fixture = Fixture()
        try await fixture.application().test(.router) { client in
            let node = try await client.execute(uri: "/v1/registrations", method: .post, headers: Self.authorized, body: ByteBuffer(string: Self.apnsBody)) { response throws in
                #expect(response.status == .created)
                let body = try Self.json(response.body)
                #expect(body["jid"] as? String == "push.example.com")
                #expect((body["secret"] as? String)?.count ?? 0 >= 24)
                return try #require(body["node"] as? String)
            }
            let stored = try #require(try await fixture.store.registration(node: node))
            #expect(stored.token == "0a1b2c3d4e5f")
            #expect(stored.dialect == .http)
            #expect(stored.accountDomain == "example.org")
            // The same account as the XMPP commands see it (bare JID, domain lowercased): one device limit.
            let overXMPP = try await fixture.registrations.register(RegistrationRequest(
                app: Self.chat, service: .apns, dialect: .p2, token: "ff", account: "Alice@example.org",
                accountDomain: "example.org", deviceID: "phone-2"
            ))
            #expect(overXMPP.accountKey == stored.accountKey)

            // The same device registering again keeps its node.
            try await client.execute(uri: "/v1/registrations", method: .post, headers: Self.authorized, body: ByteBuffer(string: Self.apnsBody)) { response throws in
                #expect(try Self.json(response.body)["node"] as? String == node)
            }

            try await client.execute(uri: "/v1/registrations/\(node)", method: .get, headers: Self.authorized) { response throws in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(!text.contains("0a1b2c3d4e5f"), "the token itself must not be shown")
                #expect(!text.contains(stored.secret ?? "-"), "the secret must not be shown")
                #expect(try Self.json(response.body)["token_fingerprint"] as? String == Redaction.fingerprint("0a1b2c3d4e5f"))
            }

            try await client.execute(uri: "/v1/registrations/\(node)/test-push", method: .post, headers: Self.authorized) { response throws in
                #expect(response.status == .ok)
                #expect(try Self.json(response.body)["outcome"] as? String == "delivered")
            }
            #expect(fixture.provider.pushes.map(\.registration.node) == [node])
            #expect(fixture.provider.pushes.first?.pushClass == .alert)

            try await client.execute(uri: "/v1/registrations/\(node)", method: .delete, headers: Self.authorized) { response throws in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/v1/registrations/\(node)", method: .delete, headers: Self.authorized) { response throws in
                #expect(response.status == .notFound)
            }
            #expect(try await fixture.store.registration(node: node) == nil)
        }
    }

    @Test func testPushToADeadTokenRemovesTheRegistration() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.deadToken(reason: "Unregistered"))
        try await fixture.application().test(.router) { client in
            let node = try await client.execute(uri: "/v1/registrations", method: .post, headers: Self.authorized, body: ByteBuffer(string: Self.apnsBody)) { response throws in
                try #require(try Self.json(response.body)["node"] as? String)
            }
            try await client.execute(uri: "/v1/registrations/\(node)/test-push", method: .post, headers: Self.authorized) { response throws in
                let body = try Self.json(response.body)
                #expect(body["outcome"] as? String == "dead_token")
                #expect(body["reason"] as? String == "Unregistered")
            }
            #expect(try await fixture.store.registration(node: node) == nil)
            try await client.execute(uri: "/v1/registrations/\(node)/test-push", method: .post, headers: Self.authorized) { response throws in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test(arguments: [
        (#"{"service":"apns"}"#, HTTPResponse.Status.badRequest),
        (#"not json"#, .badRequest),
        (#"{"app":"other","service":"apns","token":"ab","account":"a@example.org","device":"d"}"#, .notFound),
        (#"{"service":"apns","token":"ab","account":"no-domain","device":"d"}"#, .badRequest),
        (#"{"service":"apns","token":"","account":"a@example.org","device":"d"}"#, .badRequest),
        (#"{"service":"webpush","token":"ab","account":"a@example.org","device":"d"}"#, .badRequest),
        (#"{"service":"carrier-pigeon","token":"ab","account":"a@example.org","device":"d"}"#, .badRequest),
    ])
    func badRegistrationsGetAClearError(body: String, status: HTTPResponse.Status) async throws {
        try await Fixture().application().test(.router) { client in
            try await client.execute(uri: "/v1/registrations", method: .post, headers: Self.authorized, body: ByteBuffer(string: body)) { response throws in
                #expect(response.status == status)
                let message = try #require((try Self.json(response.body)["error"] as? [String: Any])?["message"] as? String)
                #expect(!message.isEmpty)
            }
        }
    }

    @Test func tooManyRegistrationsAreTooManyRequests() async throws {
        let fixture = Fixture(policy: RegistrationPolicy(maximumDevicesPerAccount: 20, maximumRegistrationsPerWindow: 2, rateWindow: .seconds(60)))
        try await fixture.application().test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for device in 1...3 {
                let body = #"{"service":"fcm","token":"t\#(device)","account":"a@example.org","device":"d\#(device)"}"#
                try await client.execute(uri: "/v1/registrations", method: .post, headers: Self.authorized, body: ByteBuffer(string: body)) { response throws in
                    statuses.append(response.status)
                }
            }
            #expect(statuses == [.created, .created, .tooManyRequests])
            try await client.execute(uri: "/metrics", method: .get) { response throws in
                #expect(String(buffer: response.body).contains(#"herald_registrations_refused_total{reason="account_rate"} 1"#))
            }
        }
    }

    @Test func registrationLimitsBecomePreciseStatuses() {
        #expect(RegistrationRoutes.httpError(for: .domainNotAllowed).status == .forbidden)
        #expect(RegistrationRoutes.httpError(for: .domainLimitReached(limit: 5)).status == .conflict)
        #expect(RegistrationRoutes.httpError(for: .totalLimitReached(limit: 5)).status == .serviceUnavailable)
    }

    @Test func metricsCountPublishesByOutcomeAndVendorRequestsByStatusAndReason() async throws {
        let fixture = Fixture()
        let registration = try await fixture.registrations.register(RegistrationRequest(
            app: Self.chat, service: .apns, dialect: .p2, token: "abc", account: "a@example.org", accountDomain: "example.org", deviceID: "d1"
        ))
        fixture.provider.answer(.retry(reason: "ServiceUnavailable", retryAfter: nil))
        let publish = Publish(node: registration.node, publisherDomain: "example.org", secret: registration.secret)
        #expect(await fixture.dispatcher.publish(publish) == .retrying(reason: "ServiceUnavailable"))
        #expect(await fixture.dispatcher.publish(Publish(node: "nope", publisherDomain: "example.org")) == .unknownNode)
        #expect(await fixture.dispatcher.publish(Publish(node: registration.node, publisherDomain: "example.org", secret: "wrong")) == .forbidden)

        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"herald_publishes_total{app="chat",outcome="retrying"} 1"#))
                #expect(text.contains(#"herald_publishes_total{app="none",outcome="unknown_node"} 1"#))
                #expect(text.contains(#"herald_publishes_total{app="chat",outcome="forbidden"} 1"#))
                #expect(text.contains(#"herald_publishes_total{app="chat",outcome="delivered"} 0"#))
                #expect(text.contains(#"herald_vendor_requests_total{app="chat",vendor="apns",status="retry",reason="ServiceUnavailable"} 1"#))
                #expect(text.contains(#"herald_publish_duration_seconds_count{app="chat"} 2"#))
                #expect(text.contains(#"herald_publish_duration_seconds_count{app="none"} 1"#))
                #expect(text.contains(#"herald_vendor_request_duration_seconds_count{app="chat",vendor="apns"} 1"#))
            }
        }
    }
}
