import Foundation
import HeraldCore
import Hummingbird

/// Tigase's REST unregister, which Siskin and Snikket iOS call when the user turns push off or removes
/// the account: `POST https://<push domain>/rest/push/unregister-device/<push domain>` with the account,
/// the provider and the device token. No bearer token: the client holds no credential of Herald's; the
/// three values together name the registration, as `unregister-device` over XMPP does from the account.
struct TigaseRESTRoutes: Sendable {
    let dependencies: AdminDependencies

    struct UnregisterBody: Decodable {
        var account: String
        var provider: String
        var deviceToken: String

        enum CodingKeys: String, CodingKey {
            case account, provider
            case deviceToken = "device-token"
        }
    }

    struct Result: Encodable {
        var result: String
    }

    /// A body is three short strings; anything larger is not one (and costs the sender, not us).
    static let maximumBodyBytes = 16 * 1024

    @Sendable func unregisterDevice(request: Request, context: BasicRequestContext) async throws -> Response {
        let component = try context.parameters.require("component")
        guard let apps = dependencies.componentApps(component.lowercased()) else {
            throw HTTPError(.notFound, message: "No such push service here.")
        }
        let body: UnregisterBody
        do {
            let buffer = try await request.body.collect(upTo: Self.maximumBodyBytes)
            body = try JSONDecoder().decode(UnregisterBody.self, from: Data(buffer.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "The body must be JSON with account, provider and device-token.")
        }
        guard let account = dependencies.parseAccount(body.account), !body.deviceToken.isEmpty else {
            throw HTTPError(.badRequest, message: "account must be a JID such as user@example.org; device-token must not be empty.")
        }
        guard let (app, service) = apps.app(forTigaseProvider: body.provider) else {
            throw HTTPError(.notFound, message: "Unknown provider.")
        }
        // Registered as `register-device` stored it: APNs tokens in lower-case hex.
        let token = service == .apns ? body.deviceToken.lowercased() : body.deviceToken
        do {
            _ = try await dependencies.registrations.unregister(app: app, dialect: .tigase, account: account.account, deviceID: token)
        } catch RegistrationError.notFound {
            throw HTTPError(.notFound, message: "No such device registered for that account.")
        } catch {
            throw HTTPError(.serviceUnavailable, message: "The registration store is unavailable.")
        }
        return try AdminRoutes.jsonResponse(Result(result: "success"), status: .ok)
    }
}
