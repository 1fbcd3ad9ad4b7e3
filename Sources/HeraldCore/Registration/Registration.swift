import Foundation

/// A device registered for push: the pubsub node and secret its user's server publishes to, and where
/// Herald delivers those publishes.
///
/// What is stored, and why:
/// - `accountDomain` always: only the user's own server may publish to the node (as p2 requires).
/// - `accountKey`, a keyed hash of the bare JID, to count and rate-limit an account's devices without
///   storing who the account is.
/// - `pushAccount` is what the push payload carries as `account`. For Siskin it must be the bare JID
///   (its extension picks the decryption key by it), so that dialect stores the JID in clear. For p2 it
///   is p2's own `sha1(bareJID + NUL + deviceID)`, which Conversations matches locally; the JID itself is
///   not stored.
/// - `deviceKey`, a keyed hash of (app, dialect family, account, device), finds the registration again
///   when the same device re-registers, so it keeps its node and secret.
public struct Registration: Sendable, Hashable, Codable {
    public var node: String {
        get { storage.fields.node }
        set { fields.node = newValue }
    }
    /// Absent for dialects whose clients enable push without publish-options (Siskin).
    public var secret: String? {
        get { storage.fields.secret }
        set { fields.secret = newValue }
    }
    public var app: String {
        get { storage.fields.app }
        set { fields.app = newValue }
    }
    public var service: PushVendor {
        get { storage.fields.service }
        set { fields.service = newValue }
    }
    public var dialect: RegistrationDialect {
        get { storage.fields.dialect }
        set { fields.dialect = newValue }
    }
    /// APNs device token (hex), FCM registration token, or Web Push endpoint URL.
    public var token: String {
        get { storage.fields.token }
        set { fields.token = newValue }
    }
    /// PushKit (VoIP) token for APNs call pushes.
    public var voipToken: String? {
        get { storage.fields.voipToken }
        set { fields.voipToken = newValue }
    }
    public var webPushKeys: WebPushKeys? {
        get { storage.fields.webPushKeys }
        set { fields.webPushKeys = newValue }
    }
    public var environment: APNsEnvironment? {
        get { storage.fields.environment }
        set { fields.environment = newValue }
    }
    public var accountDomain: String? {
        get { storage.fields.accountDomain }
        set { fields.accountDomain = newValue }
    }
    public var accountKey: String? {
        get { storage.fields.accountKey }
        set { fields.accountKey = newValue }
    }
    public var pushAccount: String? {
        get { storage.fields.pushAccount }
        set { fields.pushAccount = newValue }
    }
    /// p2's `channel` value for registrations made for one group chat.
    public var channel: String? {
        get { storage.fields.channel }
        set { fields.channel = newValue }
    }
    public var deviceKey: String {
        get { storage.fields.deviceKey }
        set { fields.deviceKey = newValue }
    }
    public var createdAt: Date {
        get { storage.fields.createdAt }
        set { fields.createdAt = newValue }
    }
    public var updatedAt: Date {
        get { storage.fields.updatedAt }
        set { fields.updatedAt = newValue }
    }
    /// The push activity, kept beside the shared fields rather than in them: it is what changes after a
    /// registration is made (the cache brings thousands of entries' up to date a second with a million
    /// registrations), and a change here is a store in place, not a new box.
    public var lastPushAt: Date?
    public var lastFailure: String?

    /// What a registration holds, stored once and shared by its copies; a copy that changes a field gets
    /// fields of its own. A registration travels with every push: out of the cache, into the delivery
    /// state machine's send, into the vendor request and its callbacks; with ten of its fields strings,
    /// each copy was a dozen retains and as many releases, now one or two.
    private struct Fields: Hashable, Codable {
        var node: String
        var secret: String?
        var app: String
        var service: PushVendor
        var dialect: RegistrationDialect
        var token: String
        var voipToken: String?
        var webPushKeys: WebPushKeys?
        var environment: APNsEnvironment?
        var accountDomain: String?
        var accountKey: String?
        var pushAccount: String?
        var channel: String?
        var deviceKey: String
        var createdAt: Date
        var updatedAt: Date
    }

    /// Immutable, so that reading a field takes no exclusivity check (a class's `var` would take one on
    /// every read); a change makes a new one, and changes are rare next to reads.
    private final class Storage: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var storage: Storage

    private var fields: Fields {
        get { storage.fields }
        set { storage = Storage(newValue) }
    }

    public init(
        node: String,
        secret: String?,
        app: String,
        service: PushVendor,
        dialect: RegistrationDialect,
        token: String,
        voipToken: String? = nil,
        webPushKeys: WebPushKeys? = nil,
        environment: APNsEnvironment? = nil,
        accountDomain: String? = nil,
        accountKey: String? = nil,
        pushAccount: String? = nil,
        channel: String? = nil,
        deviceKey: String,
        createdAt: Date,
        updatedAt: Date? = nil,
        lastPushAt: Date? = nil,
        lastFailure: String? = nil
    ) {
        storage = Storage(
            Fields(
                node: node, secret: secret, app: app, service: service, dialect: dialect, token: token, voipToken: voipToken,
                webPushKeys: webPushKeys, environment: environment, accountDomain: accountDomain, accountKey: accountKey,
                pushAccount: pushAccount, channel: channel, deviceKey: deviceKey, createdAt: createdAt,
                updatedAt: updatedAt ?? createdAt
            )
        )
        self.lastPushAt = lastPushAt
        self.lastFailure = lastFailure
    }

    public static func == (lhs: Registration, rhs: Registration) -> Bool {
        lhs.lastPushAt == rhs.lastPushAt && lhs.lastFailure == rhs.lastFailure
            && (lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields)
    }

    public func hash(into hasher: inout Hasher) {
        storage.fields.hash(into: &hasher)
        hasher.combine(lastPushAt)
        hasher.combine(lastFailure)
    }

    private enum ActivityKeys: String, CodingKey {
        case lastPushAt, lastFailure
    }

    // Encoded as one object with every field under its name: the same JSON as before the fields were shared.
    public init(from decoder: any Decoder) throws {
        storage = Storage(try Fields(from: decoder))
        let activity = try decoder.container(keyedBy: ActivityKeys.self)
        lastPushAt = try activity.decodeIfPresent(Date.self, forKey: .lastPushAt)
        lastFailure = try activity.decodeIfPresent(String.self, forKey: .lastFailure)
    }

    public func encode(to encoder: any Encoder) throws {
        try storage.fields.encode(to: encoder)
        var activity = encoder.container(keyedBy: ActivityKeys.self)
        try activity.encodeIfPresent(lastPushAt, forKey: .lastPushAt)
        try activity.encodeIfPresent(lastFailure, forKey: .lastFailure)
    }
}
