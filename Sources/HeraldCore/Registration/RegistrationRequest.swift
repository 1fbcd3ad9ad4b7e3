/// What a client asked to register, in dialect-neutral terms.
public struct RegistrationRequest: Sendable {
    public var app: App
    public var service: PushVendor
    public var dialect: RegistrationDialect
    public var token: String
    public var voipToken: String?
    public var webPushKeys: WebPushKeys?
    public var environment: APNsEnvironment?
    /// The registering account's bare JID.
    public var account: String
    /// The account's domain: its server is the only one allowed to publish.
    public var accountDomain: String
    /// What identifies the device within the account (p2 device id, v1 node, Tigase token, endpoint).
    public var deviceID: String
    /// A group chat the registration is for (p2's per-MUC channels).
    public var muc: String?
    /// A node the client chose itself (mod_push_appserver's v1 dialect).
    public var requestedNode: String?
    /// Whether publishes must carry a secret (false where clients enable without publish-options).
    public var issueSecret: Bool

    public init(
        app: App,
        service: PushVendor,
        dialect: RegistrationDialect,
        token: String,
        voipToken: String? = nil,
        webPushKeys: WebPushKeys? = nil,
        environment: APNsEnvironment? = nil,
        account: String,
        accountDomain: String,
        deviceID: String,
        muc: String? = nil,
        requestedNode: String? = nil,
        issueSecret: Bool = true
    ) {
        self.app = app
        self.service = service
        self.dialect = dialect
        self.token = token
        self.voipToken = voipToken
        self.webPushKeys = webPushKeys
        self.environment = environment
        self.account = account
        self.accountDomain = accountDomain
        self.deviceID = deviceID
        self.muc = muc
        self.requestedNode = requestedNode
        self.issueSecret = issueSecret
    }
}
