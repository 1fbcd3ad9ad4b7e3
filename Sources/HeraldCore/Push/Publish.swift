/// A XEP-0357 publish as Herald understands it, whatever server and extensions produced it.
public struct Publish: Sendable, Hashable, Codable {
    /// The summary form (`urn:xmpp:push:summary`); every field optional, and servers fill them differently.
    public struct Summary: Sendable, Hashable, Codable {
        public var messageCount: Int?
        public var pendingSubscriptionCount: Int?
        public var lastMessageSender: String?
        public var lastMessageBody: String?

        public init(messageCount: Int? = nil, pendingSubscriptionCount: Int? = nil, lastMessageSender: String? = nil, lastMessageBody: String? = nil) {
            self.messageCount = messageCount
            self.pendingSubscriptionCount = pendingSubscriptionCount
            self.lastMessageSender = lastMessageSender
            self.lastMessageBody = lastMessageBody
        }
    }

    /// Tigase's `<encrypted xmlns='tigase:push:encrypt:0' iv='…' type='…'>`: opaque to Herald, passed on.
    public struct Encrypted: Sendable, Hashable, Codable {
        public var payload: String
        public var iv: String
        /// `chat`, `groupchat`, `call`/`voip`, …; `voip` with a PushKit token becomes a VoIP push.
        public var type: String?

        public init(payload: String, iv: String, type: String? = nil) {
            self.payload = payload
            self.iv = iv
            self.type = type
        }
    }

    public var node: String
    /// The publishing server's domain (the iq's `from`).
    public var publisherDomain: String
    /// Whether the iq came from a server itself (a `from` with neither localpart nor resource), as
    /// Prosody's and ejabberd's publishes do, rather than from one of its users.
    public var publisherIsServer: Bool
    public var secret: String?
    public var summary: Summary?
    public var encrypted: Encrypted?
    /// Tigase's `<priority xmlns='tigase:push:priority:0'>high</priority>`.
    public var highPriority: Bool
    /// The component domain the publish was addressed to.
    public var component: String?
    /// fpush's `pushModule` publish-option: which app a registration-less (stateless) node belongs to.
    public var pushModule: String?
    /// The APNs environment the publish asks for: the Openfire plugin's `sandbox` publish-option, or
    /// MongooseIM's `mode` (`dev`, `prod`).
    public var environment: APNsEnvironment?
    /// MongooseIM's publish-options, which carry the device itself (no registration).
    public var device: Device?

    /// What a MongooseIM client put in its `<enable/>` form and its server publishes with: the token
    /// (`device_id`), the vendor (`service`), `silent` and `topic` (the APNs topic, which picks the app).
    public struct Device: Sendable, Hashable, Codable {
        public var token: String
        public var service: String
        public var silent: Bool
        public var topic: String?

        public init(token: String, service: String, silent: Bool = false, topic: String? = nil) {
            self.token = token
            self.service = service
            self.silent = silent
            self.topic = topic
        }
    }

    public init(
        node: String,
        publisherDomain: String,
        publisherIsServer: Bool = true,
        secret: String? = nil,
        summary: Summary? = nil,
        encrypted: Encrypted? = nil,
        highPriority: Bool = false,
        component: String? = nil,
        pushModule: String? = nil,
        environment: APNsEnvironment? = nil,
        device: Device? = nil
    ) {
        self.node = node
        self.publisherDomain = publisherDomain
        self.publisherIsServer = publisherIsServer
        self.secret = secret
        self.summary = summary
        self.encrypted = encrypted
        self.highPriority = highPriority
        self.component = component
        self.pushModule = pushModule
        self.environment = environment
        self.device = device
    }
}

/// How urgently a push must reach the device, which decides the vendor's push type and priority.
public enum PushClass: String, Sendable, Hashable, Comparable, Codable {
    /// Wake the app quietly (APNs background, priority 5; FCM normal).
    case background
    /// Show something now (APNs alert, priority 10; FCM high).
    case alert
    /// An incoming call through PushKit (APNs voip).
    case voip

    private var rank: Int {
        switch self {
        case .background: 0
        case .alert: 1
        case .voip: 2
        }
    }

    public static func < (lhs: PushClass, rhs: PushClass) -> Bool { lhs.rank < rhs.rank }

    /// Important pushes are those a user should see: a body (servers put a stand-in text there for
    /// messages worth showing), an explicit high priority, or an encrypted payload marked high. An
    /// encrypted call for a device with a PushKit token goes through PushKit.
    public static func of(_ publish: Publish, registration: Registration) -> PushClass {
        if let encrypted = publish.encrypted, ["voip", "call"].contains(encrypted.type ?? ""), registration.voipToken != nil {
            return .voip
        }
        // MongooseIM's `silent=true`: wake the app, show nothing.
        if publish.device?.silent == true { return .background }
        if publish.highPriority { return .alert }
        if let body = publish.summary?.lastMessageBody, !body.isEmpty { return .alert }
        return .background
    }
}
