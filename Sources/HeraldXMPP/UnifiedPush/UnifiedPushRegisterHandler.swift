import Foundation
import HeraldCore
import XMLStream
import XMPPComponent

/// UnifiedPush over XMPP (the protocol of Prosody's `mod_unified_push` and Conversations' "up"
/// component), with Herald as the push provider.
public enum UnifiedPushNamespace {
    public static let unifiedPush = "http://gultsch.de/xmpp/drafts/unified-push"
}

/// What a UnifiedPush registration needs to know: how endpoints are signed and where they live.
public struct UnifiedPushRegistrationSettings: Sendable {
    public var tokens: UnifiedPushEndpointTokens
    /// The public URL endpoints start with (`https://up.example.com`); `/push/<token>` follows.
    public var publicURL: String
    /// How long an endpoint stays valid; the distributor registers again before then.
    public var registrationLifetime: Duration
    /// Account domains whose users may register (a provider for anyone would relay anyone's pushes).
    public var allowedDomains: Set<String>
    public var now: @Sendable () -> Date

    public init(tokens: UnifiedPushEndpointTokens, publicURL: String, registrationLifetime: Duration, allowedDomains: Set<String>, now: @escaping @Sendable () -> Date = Date.init) {
        self.tokens = tokens
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.registrationLifetime = registrationLifetime
        self.allowedDomains = allowedDomains
        self.now = now
    }
}

/// Answers `<register xmlns='…unified-push' instance='…' application='…'/>` from a distributor (a user's
/// client) with `<registered expiration='…' endpoint='…'/>`: the endpoint's token is signed and carries
/// the client's full JID, so nothing is stored.
public struct UnifiedPushRegisterHandler: IQHandler {
    public let settings: UnifiedPushRegistrationSettings

    public init(settings: UnifiedPushRegistrationSettings) {
        self.settings = settings
    }

    public func handle(_ iq: StreamElement, context: ComponentContext) async throws(StanzaError) -> StreamElement? {
        // Pushes go to the client that registered: it must be a user's full JID, of a served domain.
        guard let from = iq.from, from.localpart != nil, from.resourcepart != nil else {
            throw StanzaError(.auth, "forbidden", text: "register from the distributor's own full JID")
        }
        guard settings.allowedDomains.contains(from.domainpart) else {
            throw StanzaError(.auth, "forbidden", text: "accounts of \(from.domainpart) may not register here")
        }
        guard let register = iq.child("register", namespace: UnifiedPushNamespace.unifiedPush) else {
            throw StanzaError(.modify, "bad-request", text: "expected a register element")
        }
        let instance = try Self.identifier(register[attribute: "instance"], name: "instance")
        let application = try Self.identifier(register[attribute: "application"], name: "application")
        let (seconds, attoseconds) = settings.registrationLifetime.components
        let expires = settings.now().addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
        let token = settings.tokens.sign(UnifiedPushEndpointToken(
            jid: from.description, instance: instance, application: application,
            component: context.domain.description, expires: Int64(expires.timeIntervalSince1970.rounded(.down))
        ))
        let registered = StreamElement("registered", namespace: UnifiedPushNamespace.unifiedPush, [
            "expiration": expires.formatted(.iso8601),
            "endpoint": "\(settings.publicURL)/push/\(token)",
        ])
        return iq.iqResult(payload: registered)
    }

    /// `instance` and `application` are 32 bytes in base64, as the distributor makes them.
    static func identifier(_ value: String?, name: String) throws(StanzaError) -> String {
        guard let value, value.utf8.count <= 64, let bytes = Data(base64Encoded: value), bytes.count == 32 else {
            throw StanzaError(.modify, "bad-request", text: "\(name) must be 32 bytes in base64")
        }
        return value
    }
}

extension ComponentRouter {
    /// Routes UnifiedPush registrations to `handler` and lists the namespace in disco#info.
    public mutating func registerUnifiedPush(_ handler: UnifiedPushRegisterHandler) {
        register(handler, type: "set", payload: "register", namespace: UnifiedPushNamespace.unifiedPush)
        addFeature(UnifiedPushNamespace.unifiedPush)
    }
}
