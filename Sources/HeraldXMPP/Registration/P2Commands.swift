import HeraldCore
import XMPPComponent

/// Conversations / p2 / Openfire: `register-push-apns` and `register-push-fcm` with `token`,
/// `device-id` (or the older `android-id`) and an optional `muc`; answered with `jid`, `node`, `secret`.
public struct P2RegisterCommand: AdHocCommand {
    public let service: PushVendor
    public let context: RegistrationContext
    public var node: String { "register-push-\(service.rawValue)" }
    public var name: String { "Register a device for \(service == .apns ? "APNs" : "FCM") push" }

    public init(service: PushVendor, context: RegistrationContext) {
        self.service = service
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let app = try context.app(from: form)
        let token = try Fields.token(try Fields.required(form, "token"), service: service, field: "token")
        let device = try Fields.required(form, "device-id", "android-id")
        let muc = try Fields.muc(form)
        let environment = try Fields.environment(form)
        return try await registering {
            let registration = try await context.registrations.register(
                RegistrationRequest(
                    app: app, service: service, dialect: .p2, token: token, environment: environment,
                    account: request.requester.bare.description, accountDomain: request.requester.domainpart,
                    deviceID: device, muc: muc
                )
            )
            return AdHocCommandResult(form: .registrationResult(domain: component.domain, node: registration.node, secret: registration.secret))
        }
    }
}

/// p2's `unregister-push-apns` / `unregister-push-fcm`, naming the device (and `muc`) as registered.
public struct P2UnregisterCommand: AdHocCommand {
    public let service: PushVendor
    public let context: RegistrationContext
    public var node: String { "unregister-push-\(service.rawValue)" }
    public var name: String { "Unregister a device from \(service == .apns ? "APNs" : "FCM") push" }

    public init(service: PushVendor, context: RegistrationContext) {
        self.service = service
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let app = try context.app(from: form)
        let device = try Fields.required(form, "device-id", "android-id")
        let muc = try Fields.muc(form)
        return try await registering {
            try await context.registrations.unregister(
                app: app, dialect: .p2, account: request.requester.bare.description, deviceID: device, muc: muc
            )
            return AdHocCommandResult()
        }
    }
}

/// Runs a registration step, turning its failures into what the client sees.
func registering(_ body: () async throws -> AdHocCommandResult) async throws(StanzaError) -> AdHocCommandResult {
    do {
        return try await body()
    } catch {
        return try RegistrationErrorMapping.result(for: error)
    }
}
