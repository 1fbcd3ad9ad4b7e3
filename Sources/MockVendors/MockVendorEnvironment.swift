/// The `HERALD_*` settings that point app 0 at mock vendors with the example keys: what tests and the
/// benchmark lay over their own configuration.
public enum MockVendorEnvironment {
    /// APNs with the example `.p8` key, both environments at `url`.
    public static func apns(url: String, topic: String) -> [String: String] {
        [
            "HERALD_APPS__0__APNS__TOPIC": topic,
            "HERALD_APPS__0__APNS__KEY_FILE": ExampleKeys.apnsKeyPath,
            "HERALD_APPS__0__APNS__KEY_ID": ExampleKeys.apnsKeyID,
            "HERALD_APPS__0__APNS__TEAM_ID": ExampleKeys.apnsTeamID,
            "HERALD_APPS__0__APNS__PRODUCTION_URL": url,
            "HERALD_APPS__0__APNS__SANDBOX_URL": url,
            "HERALD_APPS__0__APNS__CA_FILE": ExampleKeys.tlsCertificatePath,
        ]
    }

    /// FCM with the example service account; the mock serves OAuth tokens at `url`/token.
    public static func fcm(url: String) -> [String: String] {
        [
            "HERALD_APPS__0__FCM__SERVICE_ACCOUNT_FILE": ExampleKeys.fcmServiceAccountPath,
            "HERALD_APPS__0__FCM__ENDPOINT": url,
            "HERALD_APPS__0__FCM__TOKEN_URI": url + "/token",
            "HERALD_APPS__0__FCM__CA_FILE": ExampleKeys.tlsCertificatePath,
        ]
    }
}
