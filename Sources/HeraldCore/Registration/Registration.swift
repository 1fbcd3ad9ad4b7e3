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
    public var node: String
    /// Absent for dialects whose clients enable push without publish-options (Siskin).
    public var secret: String?
    public var app: String
    public var service: PushVendor
    public var dialect: RegistrationDialect
    /// APNs device token (hex), FCM registration token, or Web Push endpoint URL.
    public var token: String
    /// PushKit (VoIP) token for APNs call pushes.
    public var voipToken: String?
    public var webPushKeys: WebPushKeys?
    public var environment: APNsEnvironment?
    public var accountDomain: String?
    public var accountKey: String?
    public var pushAccount: String?
    /// p2's `channel` value for registrations made for one group chat.
    public var channel: String?
    public var deviceKey: String
    public var createdAt: Date
    public var updatedAt: Date
    public var lastPushAt: Date?
    public var lastFailure: String?

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
        self.node = node
        self.secret = secret
        self.app = app
        self.service = service
        self.dialect = dialect
        self.token = token
        self.voipToken = voipToken
        self.webPushKeys = webPushKeys
        self.environment = environment
        self.accountDomain = accountDomain
        self.accountKey = accountKey
        self.pushAccount = pushAccount
        self.channel = channel
        self.deviceKey = deviceKey
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.lastPushAt = lastPushAt
        self.lastFailure = lastFailure
    }
}
