import HeraldCore
import XMLStream
import XMPPComponent

/// Reads a XEP-0357 publish in every shape servers send: Prosody's `type='form'` summary with empty
/// fields, ejabberd's `type='submit'` summary without a message count, a bare `<notification/>`, and
/// Tigase's `<encrypted/>` and `<priority/>` extensions, and the publish-options Openfire's (`sandbox`),
/// fpush's (`pushModule`) and MongooseIM's (`device_id`, `service`, `mode`, `silent`, `priority`, `topic`)
/// clients add.
public enum PublishParser {
    public static let summaryFormType = "urn:xmpp:push:summary"
    public static let encryptNamespace = "tigase:push:encrypt:0"
    public static let priorityNamespace = "tigase:push:priority:0"

    public static func parse(_ iq: StreamElement) throws(StanzaError) -> Publish {
        guard let pubsub = iq.child("pubsub", namespace: Namespace.pubsub),
            let publish = pubsub.child("publish", namespace: Namespace.pubsub)
        else {
            throw StanzaError(.modify, "bad-request", text: "expected a pubsub publish")
        }
        guard let node = publish[attribute: "node"], !node.isEmpty else {
            throw StanzaError(.modify, "bad-request", text: "publish without a node")
        }
        guard let publisher = iq.from else {
            throw StanzaError(.modify, "bad-request", text: "publish without a sender")
        }
        let notification = publish.child("item", namespace: Namespace.pubsub)?.child("notification", namespace: PushNamespace.push)

        var summary: Publish.Summary?
        if let notification, let form = DataForm.first(in: notification, formType: summaryFormType) ?? DataForm.first(in: notification) {
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
        if let element = notification?.child("encrypted", namespace: encryptNamespace), let iv = element[attribute: "iv"], !element.text.isEmpty {
            encrypted = Publish.Encrypted(payload: element.text, iv: iv, type: element[attribute: "type"])
        }
        let priority = notification?.child("priority", namespace: priorityNamespace)?.text
        let options = pubsub.child("publish-options", namespace: Namespace.pubsub).flatMap { DataForm.first(in: $0) }

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
