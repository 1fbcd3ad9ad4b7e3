import Foundation
import HeraldCore
import HeraldSupport
import XMPPComponent

/// A Web Push / UnifiedPush subscription: `endpoint` (an https URL), `p256dh` and `auth` (base64url, as
/// browsers and UnifiedPush distributors hand them out) and an optional `device-id`; answered with
/// `jid`, `node`, `secret` like the p2 dialect.
public struct WebPushRegisterCommand: AdHocCommand {
    public let context: RegistrationContext
    public let node = "register-webpush"
    public let name = "Register a Web Push subscription"

    public init(context: RegistrationContext) {
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let app = try context.app(from: form)
        let endpoint = try WebPushFields.endpoint(form, allowPrivate: app.allowsPrivateWebPushEndpoints)
        let p256dh = try Fields.required(form, "p256dh")
        let auth = try Fields.required(form, "auth")
        guard WebPushFields.decodedLength(p256dh) == 65, p256dh.hasPrefix("B") else {
            throw Fields.badPayload("p256dh must be a base64url uncompressed P-256 public key (65 bytes)")
        }
        guard WebPushFields.decodedLength(auth) == 16 else {
            throw Fields.badPayload("auth must be a base64url 16-byte secret")
        }
        let device = form?["device-id"] ?? endpoint
        return try await registering {
            let registration = try await context.registrations.register(
                RegistrationRequest(
                    app: app, service: .webpush, dialect: .webpush, token: endpoint,
                    webPushKeys: WebPushKeys(p256dh: p256dh, auth: auth),
                    account: request.requester.bare.description, accountDomain: request.requester.domainpart,
                    deviceID: device
                )
            )
            return AdHocCommandResult(form: .registrationResult(domain: component.domain, node: registration.node, secret: registration.secret))
        }
    }
}

/// `unregister-webpush` with the `device-id` or `endpoint` the subscription was registered with.
public struct WebPushUnregisterCommand: AdHocCommand {
    public let context: RegistrationContext
    public let node = "unregister-webpush"
    public let name = "Unregister a Web Push subscription"

    public init(context: RegistrationContext) {
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let app = try context.app(from: form)
        let device = try Fields.required(form, "device-id", "endpoint")
        return try await registering {
            try await context.registrations.unregister(app: app, dialect: .webpush, account: request.requester.bare.description, deviceID: device)
            return AdHocCommandResult()
        }
    }
}

enum WebPushFields {
    static func endpoint(_ form: DataForm?, allowPrivate: Bool) throws(StanzaError) -> String {
        let value = try Fields.required(form, "endpoint")
        if let problem = WebPushEndpoint.check(value, allowPrivate: allowPrivate) {
            throw Fields.badPayload("\(problem)")
        }
        return value
    }

    static func decodedLength(_ base64url: String) -> Int? {
        Base64URL.decode(base64url)?.count
    }
}
