import Foundation
import HeraldCore
import Hummingbird

/// The registration API for apps that register over HTTPS instead of XEP-0050, and the operator's
/// lookup, delete and test push. Errors are mapped to HTTP statuses in `httpError(for:)` only.
struct RegistrationRoutes: Sendable {
    let dependencies: AdminDependencies

    /// `POST /v1/registrations`: the device's token for an app; answers the node, secret and pubsub
    /// service the client hands to its XMPP server in `<enable/>`.
    struct RegisterBody: Decodable {
        var app: String?
        var service: PushVendor
        var token: String
        var account: String
        var device: String
        var environment: APNsEnvironment?
        var voipToken: String?
        var p256dh: String?
        var auth: String?

        enum CodingKeys: String, CodingKey {
            case app, service, token, account, device, environment, p256dh, auth
            case voipToken = "voip_token"
        }
    }

    struct Registered: Encodable {
        var node: String
        var secret: String?
        var jid: String?
    }

    /// What an operator may see of a registration: never the token or secret, only a fingerprint.
    struct RegistrationView: Encodable {
        var node: String
        var app: String
        var service: String
        var dialect: String
        var tokenFingerprint: String
        var environment: String?
        var accountDomain: String?
        var createdAt: Date
        var updatedAt: Date
        var lastPushAt: Date?
        var lastFailure: String?

        enum CodingKeys: String, CodingKey {
            case node, app, service, dialect, environment
            case tokenFingerprint = "token_fingerprint"
            case accountDomain = "account_domain"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
            case lastPushAt = "last_push_at"
            case lastFailure = "last_failure"
        }

        init(_ registration: Registration) {
            node = registration.node
            app = registration.app
            service = registration.service.rawValue
            dialect = registration.dialect.rawValue
            tokenFingerprint = Redaction.fingerprint(registration.token)
            environment = registration.environment?.rawValue
            accountDomain = registration.accountDomain
            createdAt = registration.createdAt
            updatedAt = registration.updatedAt
            lastPushAt = registration.lastPushAt
            lastFailure = registration.lastFailure
        }
    }

    struct TestPushResult: Encodable {
        var outcome: String
        var reason: String
    }

    @Sendable func register(request: Request, context: BasicRequestContext) async throws -> Response {
        let body: RegisterBody
        do {
            body = try await request.decode(as: RegisterBody.self, context: context)
        } catch {
            throw HTTPError(.badRequest, message: "The body must be JSON with service, token, account and device.")
        }
        guard let app = dependencies.apps.select(body.app) else {
            throw HTTPError(.notFound, message: "No such app; name one of: \(dependencies.apps.apps.map(\.name).joined(separator: ", ")).")
        }
        guard !body.token.isEmpty, !body.device.isEmpty, let account = dependencies.parseAccount(body.account) else {
            throw HTTPError(.badRequest, message: "token and device must not be empty; account must be a JID such as user@example.org.")
        }
        var webPushKeys: WebPushKeys?
        if body.service == .webpush {
            guard let p256dh = body.p256dh, let auth = body.auth else {
                throw HTTPError(.badRequest, message: "A webpush registration needs the endpoint URL as token, and p256dh and auth.")
            }
            if let problem = WebPushEndpoint.check(body.token, allowPrivate: app.allowsPrivateWebPushEndpoints) {
                throw HTTPError(.badRequest, message: "The token: \(problem).")
            }
            webPushKeys = WebPushKeys(p256dh: p256dh, auth: auth)
        }
        let registration = try await mapped {
            try await dependencies.registrations.register(RegistrationRequest(
                app: app,
                service: body.service,
                dialect: .http,
                token: body.token,
                voipToken: body.voipToken,
                webPushKeys: webPushKeys,
                environment: body.environment,
                account: account.account,
                accountDomain: account.domain,
                deviceID: body.device
            ))
        }
        let registered = Registered(node: registration.node, secret: registration.secret, jid: dependencies.pubsubService(app.name))
        return try AdminRoutes.jsonResponse(registered, status: .created)
    }

    @Sendable func show(request: Request, context: BasicRequestContext) async throws -> Response {
        let node = try context.parameters.require("node")
        guard let registration = try await mapped({ try await dependencies.registrations.registration(node: node) }) else {
            throw HTTPError(.notFound, message: "No registration with that node.")
        }
        return try AdminRoutes.jsonResponse(RegistrationView(registration), status: .ok)
    }

    @Sendable func delete(request: Request, context: BasicRequestContext) async throws -> Response {
        let node = try context.parameters.require("node")
        guard try await mapped({ try await dependencies.registrations.remove(node: node) }) else {
            throw HTTPError(.notFound, message: "No registration with that node.")
        }
        return Response(status: .noContent)
    }

    @Sendable func testPush(request: Request, context: BasicRequestContext) async throws -> Response {
        let node = try context.parameters.require("node")
        guard let outcome = try await mapped({ try await dependencies.sendTestPush(node) }) else {
            throw HTTPError(.notFound, message: "No registration with that node.")
        }
        let result = TestPushResult(outcome: outcome.label, reason: outcome.reason.description)
        return try AdminRoutes.jsonResponse(result, status: .ok)
    }

    /// The one place store and registration errors become HTTP statuses.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RegistrationError {
            throw Self.httpError(for: error)
        } catch let error as HTTPError {
            throw error
        } catch {
            throw HTTPError(.serviceUnavailable, message: "The registration store is unavailable.")
        }
    }

    static func httpError(for error: RegistrationError) -> HTTPError {
        switch error {
        case .serviceNotConfigured(let service):
            HTTPError(.unprocessableContent, message: "\(service.rawValue) is not configured for this app.")
        case .tooManyDevices(let limit):
            HTTPError(.conflict, message: "This account already has \(limit) devices registered.")
        case .domainLimitReached(let limit):
            HTTPError(.conflict, message: "This account's server already has \(limit) registrations here.")
        case .totalLimitReached:
            HTTPError(.serviceUnavailable, message: "This push service holds as many registrations as it accepts.")
        case .domainNotAllowed:
            HTTPError(.forbidden, message: "Accounts of this server may not register here.")
        case .rateLimited:
            HTTPError(.tooManyRequests, message: "Too many registrations for this account; try again later.")
        case .nodeTaken:
            HTTPError(.conflict, message: "That node belongs to another account.")
        case .notFound:
            HTTPError(.notFound, message: "No registration with that node.")
        }
    }
}
