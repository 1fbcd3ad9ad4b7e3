import HeraldCore
import XMPPComponent

/// Siskin / Snikket iOS / Tigase: `register-device` with `provider`, `device-token` and an optional
/// `device-second-token` (PushKit); answered with `node`, `features` and `max-payload-size`.
///
/// These clients enable push without publish-options, so the registration has no secret: its
/// publishes are accepted from the account's own server only.
public struct TigaseRegisterCommand: AdHocCommand {
    public static let encryptionFeatures = ["tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm"]

    public let context: RegistrationContext
    public let node = "register-device"
    public let name = "Register device"

    public init(context: RegistrationContext) {
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let (app, service, token) = try tigaseDevice(form, apps: context.apps)
        let voipToken = try form?["device-second-token"].map { (value: String) throws(StanzaError) in
            try Fields.token(value, service: service, field: "device-second-token")
        }
        let maximumPayloadSize = context.maximumPayloadSize
        let features = context.supportsEncryptedPayloads ? Self.encryptionFeatures : []
        return try await registering {
            let registration = try await context.registrations.register(
                RegistrationRequest(
                    app: app, service: service, dialect: .tigase, token: token, voipToken: voipToken,
                    account: request.requester.bare.description, accountDomain: request.requester.domainpart,
                    deviceID: token, issueSecret: false
                )
            )
            return AdHocCommandResult(
                form: DataForm(
                    type: "result",
                    fields: [
                        .init("node", type: "text-single", value: registration.node),
                        .init("features", type: "list-multi", values: features),
                        .init("max-payload-size", type: "text-single", value: String(maximumPayloadSize)),
                    ]
                )
            )
        }
    }
}

/// `unregister-device` with `provider` and `device-token`.
public struct TigaseUnregisterCommand: AdHocCommand {
    public let context: RegistrationContext
    public let node = "unregister-device"
    public let name = "Unregister device"

    public init(context: RegistrationContext) {
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let (app, _, token) = try tigaseDevice(request.form, apps: context.apps)
        return try await registering {
            try await context.registrations.unregister(
                app: app, dialect: .tigase, account: request.requester.bare.description, deviceID: token
            )
            return AdHocCommandResult()
        }
    }
}

/// The app and vendor a Tigase `provider` names, and the checked `device-token`: what both commands read.
private func tigaseDevice(_ form: DataForm?, apps: AppDirectory) throws(StanzaError) -> (App, PushVendor, String) {
    let provider = try Fields.required(form, "provider")
    guard let (app, service) = apps.app(forTigaseProvider: provider) else {
        throw StanzaError(.cancel, "item-not-found", text: "unknown provider \(provider)")
    }
    return (app, service, try Fields.token(try Fields.required(form, "device-token"), service: service, field: "device-token"))
}
