/// The vendor clients of every app: each app has its own credentials and topic per vendor.
public struct PushProviders: Sendable {
    /// A provider, and the same provider as a `CallbackPushProvider` where it is one: cast once here,
    /// since a cast to an existential is a runtime conformance lookup, and every push asked for it.
    private struct Entry: Sendable {
        var provider: any PushProvider
        var callback: (any CallbackPushProvider)?
    }

    private var providers: [String: [PushVendor: Entry]] = [:]

    public init() {}

    public subscript(app app: String, service service: PushVendor) -> (any PushProvider)? {
        get { providers[app]?[service]?.provider }
        set { providers[app, default: [:]][service] = newValue.map { Entry(provider: $0, callback: $0 as? any CallbackPushProvider) } }
    }

    /// The app's provider for `service` if it takes a callback (the fast path), else nil.
    public func callbackProvider(app: String, service: PushVendor) -> (any CallbackPushProvider)? {
        providers[app]?[service]?.callback
    }

    /// Whether the app has a provider for `service`, without copying it out.
    public func contains(app: String, service: PushVendor) -> Bool {
        providers[app]?[service] != nil
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
