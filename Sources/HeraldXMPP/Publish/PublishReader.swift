import XMLStream
import XMPPComponent

/// Reads a publish's `<pubsub/>` payload straight from the stream parser's events into `PublishParts`,
/// without an element tree: the fast path of every push. It finds exactly what `PublishParts(tree:)`
/// finds in a tree (the same first-of-its-kind choices, direct text only), which the tests and the
/// `publish` fuzz target hold it to.
public final class PublishReader: StanzaPayloadReader {
    /// Everything read so far, changed by one mutating call per parser event: as properties of the class,
    /// each read and write of each one was a dynamic exclusivity check of its own.
    private var reading = Reading()

    public init() {}

    public func accepts(stanza: StreamElement, payload name: String, namespace: String?) -> Bool {
        stanza.name == "iq" && name == "pubsub" && namespace == Namespace.pubsub && stanza[attribute: "type"] == "set"
    }

    public func startElement(_ name: String, namespace: String?, attributes: XMLAttributeView, depth: Int) {
        reading.startElement(name, namespace: namespace, attributes: attributes, depth: depth)
    }

    public func characters(_ bytes: UnsafeBufferPointer<UInt8>, depth: Int) {
        reading.characters(bytes, depth: depth)
    }

    public func endElement(depth: Int) {
        reading.endElement(depth: depth)
    }

    public func finish() -> any Hashable & Sendable {
        reading.finish()
    }

    public func reset() {
        reading.reset()
    }

    private struct Reading {
        /// What an open element is to the publish, by depth (the `<pubsub/>` at 0).
        private enum Role {
            case pubsub, publish, options, item, notification, form, field, value, encrypted, priority, ignored
        }

        private var roles: [Role] = []
        private var parts = PublishParts()
        // Only the first of each is read, as `StreamElement.child(_:namespace:)` finds it.
        private var sawPublish = false
        private var sawOptions = false
        private var sawItem = false
        private var sawNotification = false
        private var sawOptionsForm = false
        private var sawEncrypted = false
        private var sawPriority = false
        /// The form being read, and whether it is the publish-options' (else the notification's).
        private var form = PublishParts.Form()
        private var formIsOptions = false
        private var firstNotificationForm: PublishParts.Form?
        private var summaryTypedForm: PublishParts.Form?
        private var fieldName: String?
        private var fieldValue: String?
        private var fieldSawValue = false
        /// Character data of the open `<value/>`, `<encrypted/>` or `<priority/>`.
        private var text: [UInt8] = []
        private var encryptedIV: String?
        private var encryptedType: String?
        /// The field names and form types every publish repeats (Prosody's and ejabberd's summary, the
        /// publish options), longer than a String holds without an allocation.
        private static let knownTexts = KnownStrings([
            "FORM_TYPE", "secret", "message-count", "last-message-sender", "last-message-body",
            "pending-subscription-count", PublishParser.summaryFormType, PublishParser.publishOptionsFormType,
        ])

        mutating func startElement(_ name: String, namespace: String?, attributes: XMLAttributeView, depth: Int) {
            guard depth > 0 else {
                roles.removeAll(keepingCapacity: true)
                roles.append(.pubsub)
                return
            }
            let role: Role
            switch roles[depth - 1] {
            case .pubsub where namespace == Namespace.pubsub && name == "publish" && !sawPublish:
                sawPublish = true
                parts.hasPublish = true
                parts.node = attributes["node"]
                role = .publish
            case .pubsub where namespace == Namespace.pubsub && name == "publish-options" && !sawOptions:
                sawOptions = true
                role = .options
            case .publish where namespace == Namespace.pubsub && name == "item" && !sawItem:
                sawItem = true
                role = .item
            case .item where namespace == PushNamespace.push && name == "notification" && !sawNotification:
                sawNotification = true
                role = .notification
            case .notification where namespace == Namespace.dataForms && name == "x":
                startForm(options: false)
                role = .form
            case .notification where namespace == PublishParser.encryptNamespace && name == "encrypted" && !sawEncrypted:
                sawEncrypted = true
                encryptedIV = attributes["iv"]
                encryptedType = attributes["type"]
                text.removeAll(keepingCapacity: true)
                role = .encrypted
            case .notification where namespace == PublishParser.priorityNamespace && name == "priority" && !sawPriority:
                sawPriority = true
                text.removeAll(keepingCapacity: true)
                role = .priority
            case .options where namespace == Namespace.dataForms && name == "x" && !sawOptionsForm:
                sawOptionsForm = true
                startForm(options: true)
                role = .form
            case .form where namespace == Namespace.dataForms && name == "field":
                fieldName = attributes["var", known: Self.knownTexts]
                fieldValue = nil
                fieldSawValue = false
                role = .field
            case .field where namespace == Namespace.dataForms && name == "value" && !fieldSawValue:
                fieldSawValue = true
                text.removeAll(keepingCapacity: true)
                role = .value
            default:
                role = .ignored
            }
            roles.append(role)
        }

        private mutating func startForm(options: Bool) {
            form = PublishParts.Form()
            // Room for the fields a client's forms carry, so that reading them does not regrow the array.
            form.fields.reserveCapacity(8)
            formIsOptions = options
        }

        mutating func characters(_ bytes: UnsafeBufferPointer<UInt8>, depth: Int) {
            // Only text directly inside the element counts, as `StreamElement.text` has it.
            switch roles[depth] {
            case .value, .encrypted, .priority: text.append(contentsOf: bytes)
            default: break
            }
        }

        mutating func endElement(depth: Int) {
            switch roles.removeLast() {
            case .value:
                fieldValue = text.withUnsafeBufferPointer { Self.knownTexts.string(decoding: $0) }
            case .field:
                if let fieldName { form.fields.append(.init(name: fieldName, value: fieldValue)) }
            case .form where formIsOptions:
                parts.options = form
            case .form:
                if firstNotificationForm == nil { firstNotificationForm = form }
                if summaryTypedForm == nil, form["FORM_TYPE"] == PublishParser.summaryFormType { summaryTypedForm = form }
            case .encrypted:
                parts.encrypted = PublishParts.Encrypted(text: String(decoding: text, as: UTF8.self), iv: encryptedIV, type: encryptedType)
            case .priority:
                parts.priority = String(decoding: text, as: UTF8.self)
            case .notification:
                parts.summary = summaryTypedForm ?? firstNotificationForm
            default:
                break
            }
        }

        mutating func finish() -> PublishParts {
            defer { reset() }
            return parts
        }

        mutating func reset() {
            roles.removeAll(keepingCapacity: true)
            parts = PublishParts()
            sawPublish = false
            sawOptions = false
            sawItem = false
            sawNotification = false
            sawOptionsForm = false
            sawEncrypted = false
            sawPriority = false
            form = PublishParts.Form()
            firstNotificationForm = nil
            summaryTypedForm = nil
            fieldName = nil
            fieldValue = nil
            encryptedIV = nil
            encryptedType = nil
            text.removeAll(keepingCapacity: true)
        }
    }
}
