import HeraldCore
import XMPPComponent

/// Monal / mod_push_appserver: `v1-register-push` with `type` (apns|fcm), a client-chosen `node` and
/// `token`; answered with `jid`, `node`, `secret`.
public struct V1RegisterCommand: AdHocCommand {
    public let context: RegistrationContext
    public let node = "v1-register-push"
    public let name = "Register a device for push (v1)"

    public init(context: RegistrationContext) {
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let app = try context.app(from: form)
        let service = try V1Fields.service(form)
        let clientNode = try Fields.required(form, "node")
        guard clientNode.count <= 256, !clientNode.contains(where: \.isWhitespace) else {
            throw Fields.badPayload("node must be a short identifier without spaces")
        }
        let token = try Fields.token(try Fields.required(form, "token"), service: service, field: "token")
        return try await registering {
            let registration = try await context.registrations.register(
                RegistrationRequest(
                    app: app, service: service, dialect: .v1, token: token, environment: try Fields.environment(form),
                    account: request.requester.bare.description, accountDomain: request.requester.domainpart,
                    deviceID: clientNode, requestedNode: clientNode
                )
            )
            return AdHocCommandResult(form: .registrationResult(domain: component.domain, node: registration.node, secret: registration.secret))
        }
    }
}

/// `v1-unregister-push` with `type` and `node`; answered with `jid` and `node`.
public struct V1UnregisterCommand: AdHocCommand {
    public let context: RegistrationContext
    public let node = "v1-unregister-push"
    public let name = "Unregister a device from push (v1)"

    public init(context: RegistrationContext) {
        self.context = context
    }

    public func execute(_ request: AdHocCommandRequest, context component: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        let form = request.form
        let app = try context.app(from: form)
        _ = try V1Fields.service(form)
        let clientNode = try Fields.required(form, "node")
        return try await registering {
            try await context.registrations.unregister(app: app, node: clientNode, account: request.requester.bare.description)
            return AdHocCommandResult(form: .registrationResult(domain: component.domain, node: clientNode, secret: nil))
        }
    }
}

enum V1Fields {
    static func service(_ form: DataForm?) throws(StanzaError) -> PushVendor {
        let type = try Fields.required(form, "type")
        guard let service = PushVendor(rawValue: type.lowercased()), service != .webpush else {
            throw StanzaError(.cancel, "item-not-found", text: "unknown push type \(type)")
        }
        return service
    }
}
