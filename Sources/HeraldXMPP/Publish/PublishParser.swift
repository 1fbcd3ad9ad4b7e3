import HeraldCore
import XMLStream
import XMPPComponent

/// Reads a XEP-0357 publish in every shape servers send: Prosody's `type='form'` summary with empty
/// fields, ejabberd's `type='submit'` summary without a message count, a bare `<notification/>`, and
/// Tigase's `<encrypted/>` and `<priority/>` extensions, and the publish-options Openfire's (`sandbox`),
/// fpush's (`pushModule`) and MongooseIM's (`device_id`, `service`, `mode`, `silent`, `priority`, `topic`)
/// clients add.
///
/// A publish comes either as an element tree or, on the component's fast path, as `PublishParts` that
/// `PublishReader` read straight from the parser's events; both become the same `PublishParts`, and one
/// function makes the `Publish`, so the two paths cannot disagree on what a publish means.
public enum PublishParser {
    public static let summaryFormType = "urn:xmpp:push:summary"
    /// The FORM_TYPE of a publish's options form (XEP-0060), which carries the secret.
    public static let publishOptionsFormType = "http://jabber.org/protocol/pubsub#publish-options"
    public static let encryptNamespace = "tigase:push:encrypt:0"
    public static let priorityNamespace = "tigase:push:priority:0"

    public static func parse(_ iq: StreamElement) throws(StanzaError) -> Publish {
        try publish(PublishParts(tree: iq), iq: iq)
    }

    /// A publish whose payload `PublishReader` read.
    public static func parse(_ read: ReadStanza) throws(StanzaError) -> Publish {
        guard let parts = read.payload as? PublishParts else {
            throw StanzaError(.modify, "bad-request", text: "expected a pubsub publish")
        }
        return try publish(parts, iq: read.stanza)
    }

    static func publish(_ parts: PublishParts, iq: StreamElement) throws(StanzaError) -> Publish {
        guard parts.hasPublish else {
            throw StanzaError(.modify, "bad-request", text: "expected a pubsub publish")
        }
        guard let node = parts.node, !node.isEmpty else {
            throw StanzaError(.modify, "bad-request", text: "publish without a node")
        }
        guard let publisher = iq.from else {
            throw StanzaError(.modify, "bad-request", text: "publish without a sender")
        }
        var summary: Publish.Summary?
        if let form = parts.summary {
            summary = Publish.Summary(
                messageCount: form["message-count"].flatMap { Int($0) },
                pendingSubscriptionCount: form["pending-subscription-count"].flatMap { Int($0) },
                lastMessageSender: form["last-message-sender"],
                lastMessageBody: form["last-message-body"]
            )
        }
        // Content Herald cannot read (an encrypted payload without its iv, say) is left out rather than
        // refused: the node and secret may still check out, and any error but `wait` would make
        // ejabberd drop the registration. The device then gets a background push and fetches itself.
        var encrypted: Publish.Encrypted?
        if let element = parts.encrypted, let iv = element.iv, !element.text.isEmpty {
            encrypted = Publish.Encrypted(payload: element.text, iv: iv, type: element.type)
        }
        let priority = parts.priority
        let options = parts.options

        // Openfire's clients say `sandbox=true` for development builds, MongooseIM's `mode=dev`; anything
        // unreadable is no choice.
        let environment: APNsEnvironment? = switch (options?["sandbox"] ?? options?["mode"])?.lowercased() {
        case "true", "1", "dev": .sandbox
        case "false", "0", "prod": .production
        default: nil
        }
        // MongooseIM's clients put the device in the publish-options (its PubSub-less fields, which it
        // also forwards to a XEP-0357 app server): `device_id` and `service` both, or it is no device.
        var device: Publish.Device?
        if let token = options?["device_id"], !token.isEmpty, let service = options?["service"]?.lowercased(), !service.isEmpty {
            device = Publish.Device(
                token: token, service: service,
                silent: ["true", "1"].contains(options?["silent"]?.lowercased() ?? ""),
                topic: options?["topic"].flatMap { $0.isEmpty ? nil : $0 }
            )
        }

        return Publish(
            node: node,
            publisherDomain: publisher.domainpart,
            publisherIsServer: publisher.isDomain,
            secret: options?["secret"],
            summary: summary,
            encrypted: encrypted,
            highPriority: priority == "high" || options?["priority"]?.lowercased() == "high",
            component: iq.to?.domainpart,
            pushModule: options?["pushModule"].flatMap { $0.isEmpty ? nil : $0 },
            environment: environment,
            device: device
        )
    }
}

/// What a publish says, before it means anything: the pieces `PublishParser` reads, found either in an
/// element tree or by `PublishReader` in parser events.
public struct PublishParts: Sendable, Hashable {
    /// The fields of a data form, in order, each with its first value (nil: none).
    public struct Form: Sendable, Hashable {
        public var fields: [Field] = []

        public struct Field: Sendable, Hashable {
            public var name: String
            public var value: String?
        }

        /// As `DataForm`'s subscript: the first value of the first field so named, an empty one absent.
        public subscript(name: String) -> String? {
            guard let value = fields.first(where: { $0.name == name })?.value, !value.isEmpty else { return nil }
            return value
        }
    }

    /// Tigase's `<encrypted/>`: its text and attributes, as found.
    public struct Encrypted: Sendable, Hashable {
        public var text: String
        public var iv: String?
        public var type: String?
    }

    /// The payload is `<pubsub/>` with a `<publish/>` in it.
    public var hasPublish = false
    public var node: String?
    /// The notification's form: the first with the summary FORM_TYPE, else its first form.
    public var summary: Form?
    public var encrypted: Encrypted?
    public var priority: String?
    /// The first form in the first `<publish-options/>`.
    public var options: Form?

    public init() {}

    /// The parts of the publish in `iq`, from its tree.
    public init(tree iq: StreamElement) {
        guard let pubsub = iq.child("pubsub", namespace: Namespace.pubsub) else { return }
        if let publish = pubsub.child("publish", namespace: Namespace.pubsub) {
            hasPublish = true
            node = publish[attribute: "node"]
            if let notification = publish.child("item", namespace: Namespace.pubsub)?.child("notification", namespace: PushNamespace.push) {
                let form = DataForm.first(in: notification, formType: PublishParser.summaryFormType) ?? DataForm.first(in: notification)
                summary = form.map(Form.init)
                if let element = notification.child("encrypted", namespace: PublishParser.encryptNamespace) {
                    encrypted = Encrypted(text: element.text, iv: element[attribute: "iv"], type: element[attribute: "type"])
                }
                priority = notification.child("priority", namespace: PublishParser.priorityNamespace)?.text
            }
        }
        options = pubsub.child("publish-options", namespace: Namespace.pubsub).flatMap { DataForm.first(in: $0) }.map(Form.init)
    }
}

extension PublishParts.Form {
    init(_ form: DataForm) {
        fields = form.fields.map { Field(name: $0.name, value: $0.values.first) }
    }
}
