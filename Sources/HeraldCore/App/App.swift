/// An app whose devices Herald serves: which vendors it is configured for, and how clients select it.
/// Vendor credentials are held by the providers, not here.
public struct App: Sendable, Hashable {
    public var name: String
    /// Vendors configured for this app; registering for any other is refused.
    public var services: Set<PushVendor>
    /// The APNs environment for new registrations that do not say which.
    public var defaultEnvironment: APNsEnvironment
    /// Tigase provider ids (`tigase:messenger:apns:1`) that select this app, with the vendor each means.
    public var tigaseProviders: [String: PushVendor]
    /// Whether Web Push endpoints on loopback or private addresses are accepted (tests, closed networks).
    public var allowsPrivateWebPushEndpoints: Bool

    public init(
        name: String,
        services: Set<PushVendor>,
        defaultEnvironment: APNsEnvironment = .production,
        tigaseProviders: [String: PushVendor] = [:],
        allowsPrivateWebPushEndpoints: Bool = false
    ) {
        self.name = name
        self.services = services
        self.defaultEnvironment = defaultEnvironment
        self.tigaseProviders = tigaseProviders
        self.allowsPrivateWebPushEndpoints = allowsPrivateWebPushEndpoints
    }

    /// The provider ids Tigase clients know, for the vendors this app has.
    public static func defaultTigaseProviders(for services: Set<PushVendor>) -> [String: PushVendor] {
        var providers: [String: PushVendor] = [:]
        if services.contains(.apns) { providers["tigase:messenger:apns:1"] = .apns }
        if services.contains(.fcm) { providers["tigase:messenger:fcm:1"] = .fcm }
        return providers
    }
}

/// The apps one component domain serves, and which of them a request means.
public struct AppDirectory: Sendable {
    public let apps: [App]
    /// Used when a request does not name an app.
    public let defaultApp: App?

    public init(apps: [App], defaultApp: String? = nil) {
        self.apps = apps
        self.defaultApp = defaultApp.flatMap { name in apps.first { $0.name == name } } ?? apps.first
    }

    public func app(named name: String) -> App? {
        apps.first { $0.name == name }
    }

    /// The named app, or the default when `name` is nil.
    public func select(_ name: String?) -> App? {
        name.map(app(named:)) ?? defaultApp
    }

    /// The app and vendor a Tigase provider id selects.
    public func app(forTigaseProvider provider: String) -> (App, PushVendor)? {
        if let defaultApp, let service = defaultApp.tigaseProviders[provider] { return (defaultApp, service) }
        for app in apps {
            if let service = app.tigaseProviders[provider] { return (app, service) }
        }
        return nil
    }

    /// Every Tigase provider id served here, for service discovery.
    public var tigaseProviders: [String] {
        Array(Set(apps.flatMap(\.tigaseProviders.keys))).sorted()
    }
}
