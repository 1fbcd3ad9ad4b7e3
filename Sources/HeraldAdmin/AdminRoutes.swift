import Foundation
import HeraldCore
import Hummingbird
import Logging
import Prometheus

/// One thing `/ready` looks at: the component connection, the store, an app's credentials.
public struct ReadinessCheck: Sendable, Codable, Equatable {
    public var name: String
    public var ready: Bool
    public var detail: String

    public init(name: String, ready: Bool, detail: String) {
        self.name = name
        self.ready = ready
        self.detail = detail
    }
}

/// What the admin routes act on. Closures keep this target free of the XMPP and vendor targets.
public struct AdminDependencies: Sendable {
    public var readiness: @Sendable () async -> [ReadinessCheck]
    public var metricsRegistry: PrometheusCollectorRegistry
    /// Samples gauges (queue depth, registrations, connections) just before a scrape.
    public var sampleGauges: @Sendable () async -> Void
    public var registrations: RegistrationService
    public var apps: AppDirectory
    /// The pubsub service (component domain) a client names in `<enable/>` for an app's registrations.
    public var pubsubService: @Sendable (_ app: String) -> String?
    public var sendTestPush: @Sendable (_ node: String) async throws -> PushOutcome?

    public init(
        readiness: @escaping @Sendable () async -> [ReadinessCheck],
        metricsRegistry: PrometheusCollectorRegistry,
        sampleGauges: @escaping @Sendable () async -> Void,
        registrations: RegistrationService,
        apps: AppDirectory,
        pubsubService: @escaping @Sendable (_ app: String) -> String?,
        sendTestPush: @escaping @Sendable (_ node: String) async throws -> PushOutcome?
    ) {
        self.readiness = readiness
        self.metricsRegistry = metricsRegistry
        self.sampleGauges = sampleGauges
        self.registrations = registrations
        self.apps = apps
        self.pubsubService = pubsubService
        self.sendTestPush = sendTestPush
    }
}

/// The admin HTTP routes: `/health`, `/ready` and `/metrics` open (bind to loopback or a private
/// network), and the registration API under `/v1` behind the bearer token. Without a token `/v1` is off.
public enum AdminRoutes {
    public static func router(_ dependencies: AdminDependencies, token: String?) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health") { _, _ in
            Status(status: "alive")
        }
        router.get("ready") { _, _ -> Response in
            let checks = await dependencies.readiness()
            let ready = checks.allSatisfy(\.ready)
            return try jsonResponse(Readiness(ready: ready, checks: checks), status: ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ -> Response in
            await dependencies.sampleGauges()
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            dependencies.metricsRegistry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }

        let api = router.group("v1")
        api.add(middleware: BearerTokenMiddleware(token: token))
        let registrations = RegistrationRoutes(dependencies: dependencies)
        api.post("registrations", use: registrations.register)
        api.get("registrations/:node", use: registrations.show)
        api.delete("registrations/:node", use: registrations.delete)
        api.post("registrations/:node/test-push", use: registrations.testPush)
        return router
    }

    static func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value)))
        )
    }
}

struct Status: ResponseEncodable {
    var status: String
}

struct Readiness: Codable {
    var ready: Bool
    var checks: [ReadinessCheck]
}

/// `Authorization: Bearer <token>`, compared in constant time. No configured token: the API is disabled.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            throw HTTPError(.notFound, message: "The registration API is off: set admin.token to enable it.")
        }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), constantTimeEquals(String(header.dropFirst(prefix.count)), token) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"herald\""], message: "Missing or wrong bearer token.")
        }
        return try await next(request, context)
    }
}
