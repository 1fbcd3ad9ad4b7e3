import HeraldCore
import XMLStream
import XMPPComponent

/// What every registration command of one component shares: the apps it serves and the service
/// that records registrations.
public struct RegistrationContext: Sendable {
    public let apps: AppDirectory
    public let registrations: RegistrationService
    /// Whether encrypted Tigase payloads are passed through, so Siskin may turn encryption on.
    public var supportsEncryptedPayloads: Bool
    /// The payload budget announced to Siskin clients (`max-payload-size`).
    public var maximumPayloadSize: Int

    public init(apps: AppDirectory, registrations: RegistrationService, supportsEncryptedPayloads: Bool = false, maximumPayloadSize: Int = 3000) {
        self.apps = apps
        self.registrations = registrations
        self.supportsEncryptedPayloads = supportsEncryptedPayloads
        self.maximumPayloadSize = maximumPayloadSize
    }

    /// The app a request names in its `app` field, or the component's default.
    func app(from form: DataForm?) throws(StanzaError) -> App {
        let name = form?["app"]
        guard let app = apps.select(name) else {
            throw StanzaError(.cancel, "item-not-found", text: name.map { "no app named \($0)" } ?? "no app is configured")
        }
        return app
    }
}

/// Field checks shared by the dialects; each failure is XEP-0050's `bad-request` + `<bad-payload/>`.
enum Fields {
    static func badPayload(_ text: String) -> StanzaError {
        StanzaError(.modify, "bad-request", text: text, applicationCondition: StreamElement("bad-payload", namespace: Namespace.commands))
    }

    static func required(_ form: DataForm?, _ names: String...) throws(StanzaError) -> String {
        for name in names {
            if let value = form?[name] { return value }
        }
        throw badPayload("missing field \(names.joined(separator: " or "))")
    }

    /// A vendor token: printable, no whitespace, at most 4 KiB (APNs tokens additionally hex).
    static func token(_ value: String, service: PushVendor, field: String) throws(StanzaError) -> String {
        guard value.utf8.count <= 4096, !value.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw badPayload("\(field) is not a push token")
        }
        if service == .apns {
            guard value.count.isMultiple(of: 2), value.allSatisfy(\.isHexDigit) else {
                throw badPayload("\(field) must be the APNs device token in hex")
            }
            return value.lowercased()
        }
        return value
    }

    /// A group chat address: a bare JID with a local part.
    static func muc(_ form: DataForm?) throws(StanzaError) -> String? {
        guard let value = form?["muc"] else { return nil }
        guard let jid = JID(value), jid.isBare, jid.localpart != nil else {
            throw badPayload("muc must be the bare JID of a group chat")
        }
        return jid.description
    }

    static func environment(_ form: DataForm?) throws(StanzaError) -> APNsEnvironment? {
        if let value = form?["environment"] {
            guard let environment = APNsEnvironment(rawValue: value) else {
                throw badPayload("environment must be sandbox or production")
            }
            return environment
        }
        // The Openfire plugin's boolean.
        if let sandbox = form?["sandbox"] { return ["1", "true"].contains(sandbox) ? .sandbox : .production }
        return nil
    }
}

/// The one place where registration failures become what the client sees.
enum RegistrationErrorMapping {
    static func result(for error: any Error) throws(StanzaError) -> AdHocCommandResult {
        switch error {
        case let stanzaError as StanzaError:
            throw stanzaError
        case RegistrationError.serviceNotConfigured(let service):
            throw StanzaError(.cancel, "item-not-found", text: "this app has no \(service.rawValue) service")
        case RegistrationError.notFound:
            throw StanzaError(.cancel, "item-not-found", text: "no such registration")
        case RegistrationError.nodeTaken:
            throw StanzaError(.cancel, "conflict", text: "node is registered by another account")
        case RegistrationError.rateLimited:
            throw StanzaError(.wait, "resource-constraint", text: "too many registrations; try again later")
        case RegistrationError.domainNotAllowed:
            throw StanzaError(.cancel, "not-allowed", text: "accounts of your server may not register with this push service")
        case RegistrationError.domainLimitReached(let limit):
            throw StanzaError(.wait, "resource-constraint", text: "your server already has \(limit) registrations with this push service")
        case RegistrationError.totalLimitReached:
            throw StanzaError(.wait, "resource-constraint", text: "this push service holds as many registrations as it accepts")
        case RegistrationError.tooManyDevices(let limit):
            // The command ran and refused: XEP-0050 wants a completed command with an error note.
            return AdHocCommandResult(note: (.error, "this account already has \(limit) devices registered; unregister one first"))
        default:
            throw StanzaError(.wait, "internal-server-error", text: "registration could not be stored")
        }
    }
}

extension DataForm {
    /// The result form every registration dialect answers with (`type='form'`, as p2 sends it).
    static func registrationResult(domain: JID, node: String, secret: String?) -> DataForm {
        var fields = [
            Field("jid", type: "jid-single", value: domain.description),
            Field("node", type: "text-single", value: node),
        ]
        if let secret { fields.append(Field("secret", type: "text-single", value: secret)) }
        return DataForm(type: "form", fields: fields)
    }
}
