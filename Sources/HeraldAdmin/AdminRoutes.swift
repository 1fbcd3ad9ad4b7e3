import Foundation
import HeraldCore
import Hummingbird
import Logging
import Prometheus

/// The admin HTTP routes: `/health`, `/ready` and `/metrics` open (bind to loopback or a private
/// network), the registration API under `/v1` behind the bearer token (without a token `/v1` is off),
/// and Tigase's client-facing REST unregister under `/rest/push`, the one path to expose publicly.
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

        let tigase = TigaseRESTRoutes(dependencies: dependencies)
        router.post("rest/push/unregister-device/:component", use: tigase.unregisterDevice)
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
