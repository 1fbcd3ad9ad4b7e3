/// The vendor clients of every app: each app has its own credentials and topic per vendor.
public struct PushProviders: Sendable {
    private var providers: [String: [PushVendor: any PushProvider]] = [:]

    public init() {}

    public subscript(app app: String, service service: PushVendor) -> (any PushProvider)? {
        get { providers[app]?[service] }
        set { providers[app, default: [:]][service] = newValue }
    }

    /// The same provider for every app (tests, single-app setups).
    public static func shared(_ provider: any PushProvider, apps: [String], services: [PushVendor]) -> PushProviders {
        var providers = PushProviders()
        for app in apps {
            for service in services { providers[app: app, service: service] = provider }
        }
        return providers
    }
}
