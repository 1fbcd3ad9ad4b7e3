import Foundation
import HeraldCore
import Hummingbird
import HummingbirdTesting
import Prometheus
import Synchronization
import Testing

@testable import HeraldAdmin

/// The public UnifiedPush endpoint at router level: every answer an application server can get.
@Suite struct UnifiedPushRoutesTests {
    static let tokens = UnifiedPushEndpointTokens(secret: "a-secret-of-some-length")
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let claims = UnifiedPushEndpointToken(
        jid: "romeo@example.org/phone", instance: "i", application: "a", component: "up.example.org", expires: 1_790_086_400
    )

    final class Fixture: Sendable {
        let delivered = Mutex<[(UnifiedPushEndpointToken, [UInt8])]>([])
        let answer: UnifiedPushDelivery
        let rateLimit: Int
        let registry = PrometheusCollectorRegistry()

        /// The Prometheus text of what was counted.
        var exposition: String {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }

        let rateWindow: Duration

        init(answer: UnifiedPushDelivery = .delivered, rateLimit: Int = 100, rateWindow: Duration = .seconds(60)) {
            self.answer = answer
            self.rateLimit = rateLimit
            self.rateWindow = rateWindow
        }

        func application() -> some ApplicationProtocol {
            let metrics = HeraldMetrics(factory: PrometheusMetricsFactory(registry: registry))
            let routes = UnifiedPushRoutes(
                tokens: UnifiedPushRoutesTests.tokens, rateLimit: rateLimit, rateWindow: rateWindow, metrics: metrics, now: { UnifiedPushRoutesTests.now }
            ) { token, payload in
                self.delivered.withLock { $0.append((token, payload)) }
                return self.answer
            }
            return Application(router: routes.router())
        }
    }

    static var endpoint: String { "/push/" + tokens.sign(claims) }

    @Test func aPushReachesTheDistributorTheTokenNamesAndIsCreated() async throws {
        let fixture = Fixture()
        let body = [UInt8]((0..<4096).map { UInt8($0 % 251) })
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .created)
            }
            try await client.execute(uri: Self.endpoint, method: .get) { response in
                #expect(String(buffer: response.body) == #"{"unifiedpush":{"version":1}}"#)
            }
        }
        let delivered = fixture.delivered.withLock { $0 }
        #expect(delivered.count == 1)
        #expect(delivered.first?.0 == Self.claims)
        #expect(delivered.first?.1 == body, "byte for byte, at the 4096-byte limit")
    }

    @Test(arguments: [
        (UnifiedPushDelivery.rejected, HTTPResponse.Status.notFound), (.unavailable, .serviceUnavailable), (.failed, .internalServerError),
    ])
    func theDistributorsAnswerBecomesTheStatus(answer: UnifiedPushDelivery, status: HTTPResponse.Status) async throws {
        try await Fixture(answer: answer).application().test(.router) { client in
            try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(string: "x")) { response in
                #expect(response.status == status)
            }
        }
    }

    @Test func wrongExpiredOversizedAndEmptyPushesNeverReachTheDistributor() async throws {
        let fixture = Fixture()
        var claims = Self.claims
        claims.expires = 1_789_999_999
        let expired = Self.tokens.sign(claims)
        let forged = UnifiedPushEndpointTokens(secret: "someone-elses-secret").sign(Self.claims)
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/push/" + forged, method: .post, body: ByteBuffer(string: "x")) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/push/" + expired, method: .post, body: ByteBuffer(string: "x")) { #expect($0.status == .gone) }
            try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(repeating: 0x61, count: 4097)) { #expect($0.status == .contentTooLarge) }
            try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(repeating: 0x61, count: 1 << 20)) { #expect($0.status == .contentTooLarge) }
            try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer()) { #expect($0.status == .badRequest) }
        }
        #expect(fixture.delivered.withLock { $0.isEmpty })
        let counted = fixture.exposition
        for line in [#"{status="404"} 1"#, #"{status="410"} 1"#, #"{status="413"} 2"#, #"{status="400"} 1"#] {
            #expect(counted.contains("herald_unified_push_requests_total" + line), "\(counted)")
        }
    }

    /// A window under a second is still a window (the clock stands still here, so it never ends).
    @Test func aSubSecondRateWindowStillLimitsAndSaysRetryAfterOneSecond() async throws {
        let fixture = Fixture(rateLimit: 2, rateWindow: .milliseconds(500))
        try await fixture.application().test(.router) { client in
            for expected in [HTTPResponse.Status.created, .created, .tooManyRequests] {
                try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(string: "x")) { response in
                    #expect(response.status == expected)
                    if expected == .tooManyRequests { #expect(response.headers[.retryAfter] == "1") }
                }
            }
        }
        #expect(fixture.delivered.withLock { $0.count } == 2)
    }

    @Test func anEndpointOverItsRateLimitHearsTooManyRequestsAndOthersGoOn() async throws {
        let fixture = Fixture(rateLimit: 5)
        var otherClaims = Self.claims
        otherClaims.instance = "another"
        let other = "/push/" + Self.tokens.sign(otherClaims)
        try await fixture.application().test(.router) { client in
            for _ in 0..<5 {
                try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(string: "x")) { #expect($0.status == .created) }
            }
            for _ in 0..<20 {
                try await client.execute(uri: Self.endpoint, method: .post, body: ByteBuffer(string: "x")) { response in
                    #expect(response.status == .tooManyRequests)
                    #expect(response.headers[.retryAfter] == "60")
                }
            }
            try await client.execute(uri: other, method: .post, body: ByteBuffer(string: "x")) { #expect($0.status == .created) }
        }
        #expect(fixture.delivered.withLock { $0.count } == 6)
        #expect(fixture.exposition.contains(#"herald_unified_push_requests_total{status="429"} 20"#))
        #expect(fixture.exposition.contains(#"herald_unified_push_requests_total{status="201"} 6"#))
    }
}
