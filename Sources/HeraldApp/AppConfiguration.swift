import Foundation
import HeraldCore
import WebPush

/// One entry under `apps`: an app, its vendors, and the component domains that serve it.
public struct AppConfiguration: Sendable {
    public var app: App
    /// Component domains serving this app; empty means every component.
    public var components: [String]
    public var apns: APNsAppConfiguration?
    public var fcm: FCMAppConfiguration?
    public var webPush: WebPushAppConfiguration?
    public var content: ContentPolicy
    /// `stateless`: publishes to nodes never registered, whose node is the APNs token (Monal's fpush dialect).
    public var stateless: StatelessConfiguration?

    init(section: ConfigSection, componentDomains: [String]) throws(ConfigurationError) {
        let name = try section.requiredString("name", fix: "give each app a short name, e.g. chat")
        var services: Set<PushVendor> = []
        for service in PushVendor.allCases where section.contains(service.rawValue) {
            let vendor = try section.section(service.rawValue)
            if try vendor.bool("enabled", default: true) { services.insert(service) }
        }
        let environment = try section.section("apns").oneOf("environment", ["production", "sandbox"], default: "production")
        // Siskin and Snikket iOS send Tigase's own provider ids; without the key they must still work.
        var providers = App.defaultTigaseProviders(for: services)
        let providerSection = try section.section("tigase_providers")
        if section.contains("tigase_providers"), case .mapping(let mapping) = providerSection.node {
            providers = [:]
            for provider in mapping.keys.sorted() {
                let service = try providerSection.oneOf(provider, ["apns", "fcm"], default: "apns")
                providers[provider] = PushVendor(rawValue: service)
            }
        }
        components = section.stringList("components")
        apns = services.contains(.apns) ? try APNsAppConfiguration(section: try section.section("apns")) : nil
        fcm = services.contains(.fcm) ? try FCMAppConfiguration(section: try section.section("fcm")) : nil
        webPush = services.contains(.webpush) ? try WebPushAppConfiguration(section: try section.section("webpush")) : nil
        app = App(
            name: name,
            services: services,
            defaultEnvironment: APNsEnvironment(rawValue: environment) ?? .production,
            tigaseProviders: providers,
            allowsPrivateWebPushEndpoints: webPush?.provider.allowPrivateEndpoints ?? false
        )
        content = try ContentPolicy(section: try section.section("content"))
        if section.contains("stateless") {
            let statelessSection = try section.section("stateless")
            let configuration = try StatelessConfiguration(section: statelessSection)
            // fpush's nodes are APNs tokens; MongooseIM's devices may be FCM's too.
            guard services.contains(.apns) || (configuration.pushModules.isEmpty && !configuration.isDefault && services.contains(.fcm)) else {
                throw ConfigurationError(
                    key: statelessSection.path, problem: "needs the app's apns section (or fcm, for mongooseim alone)",
                    fix: "add apns to this app, or remove stateless"
                )
            }
            stateless = configuration
        }
        for domain in components where !componentDomains.contains(domain) {
            throw ConfigurationError(
                key: section.path + ".components",
                problem: "names \(domain), which is not a configured component",
                fix: "list it under components, or remove it here"
            )
        }
    }
}

/// `apps[].stateless`: which fpush `pushModule` names select the app, whether it takes MongooseIM's
/// publishes, and each node's rate limit.
public struct StatelessConfiguration: Sendable {
    public var pushModules: [String]
    /// Takes stateless publishes that name no `pushModule` (fpush's default module).
    public var isDefault: Bool
    /// Takes publishes whose publish-options carry the device (`device_id`, `service`), as MongooseIM's do.
    public var mongooseIM: Bool
    public var minimumInterval: Duration
    /// Where it is in the configuration, for errors found across apps.
    let path: String

    init(section: ConfigSection) throws(ConfigurationError) {
        path = section.path
        pushModules = section.stringList("push_modules")
        isDefault = try section.bool("default", default: false)
        mongooseIM = try section.bool("mongooseim", default: false)
        minimumInterval = try section.positiveDuration("min_interval", default: .seconds(10))
        guard !pushModules.isEmpty || isDefault || mongooseIM else {
            throw ConfigurationError(
                key: section.path + ".push_modules", problem: "names no pushModule, and the app takes neither the default nor MongooseIM's publishes",
                fix: "list the pushModule values the app's clients send (e.g. [monalProdiOS]), or set default: true or mongooseim: true"
            )
        }
    }
}

/// Limits under `registrations`.
struct RegistrationSettings: Sendable {
    var policy: RegistrationPolicy
    var hashKey: [UInt8]

    init(section: ConfigSection) throws(ConfigurationError) {
        let allowedDomains = section.stringList("allowed_domains").map { $0.lowercased() }
        policy = RegistrationPolicy(
            maximumDevicesPerAccount: try section.int("max_devices_per_account", default: 20, range: 1...10_000),
            maximumRegistrationsPerWindow: try section.int("rate_limit", default: 20, range: 1...1_000_000),
            rateWindow: try section.positiveDuration("rate_window", default: .seconds(60)),
            maximumRegistrationsPerDomain: try section.int("max_per_domain", default: 2_000_000, range: 1...1_000_000_000),
            maximumRegistrations: try section.int("max_total", default: 10_000_000, range: 1...1_000_000_000),
            allowedDomains: allowedDomains.isEmpty ? nil : Set(allowedDomains)
        )
        hashKey = Array((try section.string("hash_key") ?? "herald-registration-v1").utf8)
    }
}

