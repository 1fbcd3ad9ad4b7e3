/// Logger metadata keys of Herald's own targets, defined once so every log line names things the same
/// way. (The component library has `ComponentLogKey`, the HTTP/2 client `HTTP2LogKey`.)
public enum LogKey {
    public static let reason = "reason"
    /// A node's fingerprint (`Redaction.fingerprint`), never the node itself.
    public static let node = "push.node"
    public static let app = "push.app"
    public static let vendor = "push.service"
    public static let outcome = "push.outcome"
    public static let vendorReason = "push.reason"
    public static let count = "push.count"
    public static let apnsID = "apns.id"
    public static let apnsEnvironment = "apns.environment"
    public static let apps = "apps"
    public static let components = "components"
    public static let adminHost = "admin.host"
    public static let adminPort = "admin.port"
    public static let unifiedPushHost = "unified_push.host"
    public static let unifiedPushPort = "unified_push.port"
    /// A UnifiedPush delivery's HTTP answer to the application server.
    public static let unifiedPushStatus = "unified_push.status"
    public static let storeMigration = "store.migration"
    public static let storeAddress = "store.address"
}
