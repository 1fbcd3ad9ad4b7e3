import Foundation
import HeraldCore
import Hummingbird
import Synchronization

/// What became of a push handed to the distributor.
public enum UnifiedPushDelivery: Sendable, Hashable {
    /// The distributor took it.
    case delivered
    /// The distributor does not know the application or instance: the endpoint is dead.
    case rejected
    /// The distributor, or Herald's link to its server, cannot take it now.
    case unavailable
    /// Anything else went wrong.
    case failed
}

/// The public UnifiedPush endpoint: application servers `POST` a push (RFC 8030, at most 4096 bytes) to
/// `/push/<token>`, and Herald relays it to the distributor the token names. A wrong token is `404`, an
/// expired one `410`, a body over 4096 bytes `413`, an empty one `400`, more than the rate limit `429`;
/// `201` once the distributor took it.
public final class UnifiedPushRoutes: Sendable {
    public static let maximumBodyBytes = 4096

    let tokens: UnifiedPushEndpointTokens
    let deliver: @Sendable (UnifiedPushEndpointToken, [UInt8]) async -> UnifiedPushDelivery
    let limiter: Mutex<RateLimiter<Int>>
    let now: @Sendable () -> Date
    let metrics: HeraldMetrics

    public init(
        tokens: UnifiedPushEndpointTokens,
        rateLimit: Int,
        rateWindow: Duration,
        metrics: HeraldMetrics = .disabled,
        now: @escaping @Sendable () -> Date = Date.init,
        deliver: @escaping @Sendable (UnifiedPushEndpointToken, [UInt8]) async -> UnifiedPushDelivery
    ) {
        self.tokens = tokens
        self.deliver = deliver
        self.now = now
        self.metrics = metrics
        // The whole window, fractions included: a `500ms` window cut to whole seconds would be none.
        let (seconds, attoseconds) = rateWindow.components
        limiter = Mutex(RateLimiter(limit: rateLimit, window: Double(seconds) + Double(attoseconds) / 1e18))
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        // What UnifiedPush's discovery asks of an endpoint.
        let discovery: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"unifiedpush":{"version":1}}"#)))
        }
        router.get("push", use: discovery)
        router.get("push/:token", use: discovery)
        router.post("push/:token", use: push)
        return router
    }

    @Sendable func push(request: Request, context: BasicRequestContext) async throws -> Response {
        let status = try await answer(request, context: context)
        metrics.unifiedPushRequest(status: Int(status.code))
        if status == .tooManyRequests {
            // Retry-After is whole seconds; never 0, which would invite an immediate retry.
            return Response(status: status, headers: [.retryAfter: "\(limiter.withLock { max(1, Int($0.window.rounded(.up))) })"])
        }
        return Response(status: status)
    }

    private func answer(_ request: Request, context: BasicRequestContext) async throws -> HTTPResponse.Status {
        let text = try context.parameters.require("token")
        let token: UnifiedPushEndpointToken
        switch tokens.verify(text, now: now()) {
        case .success(let verified): token = verified
        case .failure(.expired): return .gone
        case .failure(.invalid): return .notFound
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBodyBytes)
        } catch {
            return .contentTooLarge
        }
        guard body.readableBytes > 0 else { return .badRequest }
        // A 64-bit hash of the token keeps the limiter's memory small however many endpoints are busy.
        var hasher = Hasher()
        hasher.combine(text)
        let key = hasher.finalize()
        let now = now()
        guard limiter.withLock({ $0.admit(key, at: now) }) else { return .tooManyRequests }
        switch await deliver(token, Array(body.readableBytesView)) {
        case .delivered: return .created
        case .rejected: return .notFound
        case .unavailable: return .serviceUnavailable
        case .failed: return .internalServerError
        }
    }
}
