import APNs
import FCM
import Foundation
import HeraldAdmin
import HeraldCore
import HeraldHTTP2
import HeraldSupport
import Logging
import WebPush
import XMLStream
import XMPPComponent

/// Herald's whole configuration, read from one YAML file with environment overrides.
/// README.md documents every key; keep the two in step.
public struct HeraldConfiguration: Sendable {
    public enum LogFormat: String, Sendable { case text, json }

    public var components: [ComponentConfiguration]
    /// The default app of each component domain, by domain (`components[].default_app`).
    public var defaultApps: [String: String]
    public var apps: [AppConfiguration]
    /// The apps that take publishes to unregistered nodes (`apps[].stateless`), by `pushModule`.
    public var stateless: StatelessApps
    /// The SQLite database file (`storage.path`).
    public var databasePath: String
    /// The store: SQLite at `databasePath`, or PostgreSQL (`storage.engine`).
    public var storage: StorageConfiguration
    var registrationSettings: RegistrationSettings
    public var delivery: DeliveryPolicy
    /// How vendor connections (APNs, FCM) connect, check liveness and retire (`vendors`).
    public var vendorConnections: HTTP2ConnectionSettings
    public var registrationPolicy: RegistrationPolicy { registrationSettings.policy }
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// The admin HTTP server (`admin`); nil when `admin.enabled` is false.
    public var admin: AdminConfiguration?
    /// `unified_push`: Herald as a UnifiedPush provider; nil when the section is absent.
    public var unifiedPush: UnifiedPushConfiguration?

    /// Reads the file at `path` (if any), lays the environment over it, then the command line's
    /// settings: file < environment < flags.
    public static func load(
        path: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: [(key: String, value: String)] = []
    ) throws(ConfigurationError) -> HeraldConfiguration {
        var tree = ConfigTree()
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(key: "--config", problem: "cannot read \(path)", fix: "check the path and its permissions")
            }
            tree = try ConfigTree(yaml: String(decoding: data, as: UTF8.self))
        }
        try tree.applyProxyVariables(environment)
        try tree.applyEnvironment(environment)
        try tree.applyOverrides(overrides)
        return try HeraldConfiguration(tree: tree)
    }

    /// `vendors.proxy` and `vendors.no_proxy`. The URL may carry a password, so no error repeats it.
    private static func proxy(_ vendors: ConfigSection) throws(ConfigurationError) -> EgressProxy? {
        guard let url = try vendors.string("proxy"), !url.isEmpty else { return nil }
        let noProxy = try vendors.string("no_proxy") ?? ""
        do {
            return try EgressProxy(url: url, noProxy: noProxy)
        } catch {
            throw ConfigurationError(key: "vendors.proxy", problem: error.problem, fix: "http://[user:password@]host:port, or unset it")
        }
    }

    public init(tree: ConfigTree) throws(ConfigurationError) {
        let root = tree.section
        let xmpp = try root.section("xmpp")
        let defaults = try ComponentDefaults(section: xmpp)
        let componentSections = try root.list("components")
        guard !componentSections.isEmpty else {
            throw ConfigurationError(
                key: "components",
                problem: "names no component",
                fix: "add one with a domain and secret, or set HERALD_COMPONENTS__0__DOMAIN and HERALD_COMPONENTS__0__SECRET"
            )
        }
        var components: [ComponentConfiguration] = []
        var defaultAppSections: [(String, ConfigSection)] = []
        for section in componentSections {
            let component = try defaults.component(from: section)
            if components.contains(where: { $0.domain == component.domain }) {
                throw ConfigurationError(key: section.path + ".domain", problem: "repeats \(component.domain)", fix: "each component domain needs one entry")
            }
            components.append(component)
            defaultAppSections.append((component.domain, section))
        }
        self.components = components

        var apps: [AppConfiguration] = []
        for section in try root.list("apps") {
            let app = try AppConfiguration(section: section, componentDomains: components.map(\.domain))
            if apps.contains(where: { $0.app.name == app.app.name }) {
                throw ConfigurationError(key: section.path + ".name", problem: "repeats \(app.app.name)", fix: "app names must be unique")
            }
            apps.append(app)
        }
        let vendors = try root.section("vendors")
        vendorConnections = HTTP2ConnectionSettings(
            connectTimeout: try vendors.positiveDuration("connect_timeout", default: .seconds(10)),
            idlePingInterval: try vendors.positiveDuration("ping_interval", default: .seconds(60)),
            pingTimeout: try vendors.positiveDuration("ping_timeout", default: .seconds(5)),
            retireAfterTimeouts: try vendors.int("retire_after_timeouts", default: 3, range: 1...1000),
            proxy: try Self.proxy(vendors)
        )
        for index in apps.indices {
            apps[index].apns?.provider.connection = vendorConnections
            apps[index].fcm?.provider.connection = vendorConnections
            apps[index].webPush?.provider.proxy = vendorConnections.proxy
        }
        self.apps = apps
        stateless = try Self.statelessApps(apps)
        var defaultApps: [String: String] = [:]
        for (domain, section) in defaultAppSections {
            guard let name = try section.string("default_app") else { continue }
            guard let app = apps.first(where: { $0.app.name == name }) else {
                throw ConfigurationError(key: section.path + ".default_app", problem: "names no configured app: \(name)", fix: "use a name from apps")
            }
            guard app.components.isEmpty || app.components.contains(domain) else {
                throw ConfigurationError(key: section.path + ".default_app", problem: "\(name) is not served by \(domain)", fix: "add \(domain) to that app's components")
            }
            defaultApps[domain] = name
        }
        self.defaultApps = defaultApps
        storage = try StorageConfiguration(section: try root.section("storage"))
        databasePath = storage.sqlitePath ?? "herald.sqlite"
        registrationSettings = try RegistrationSettings(section: try root.section("registrations"))
        delivery = try DeliveryPolicy(section: try root.section("delivery"))

        let log = try root.section("log")
        let level = try log.oneOf("level", Logger.Level.allCases.map(\.rawValue), default: "info")
        logLevel = Logger.Level(rawValue: level) ?? .info
        logFormat = LogFormat(rawValue: try log.oneOf("format", ["text", "json"], default: "text")) ?? .text

        let admin = try root.section("admin")
        if try admin.bool("enabled", default: true) {
            let token = try admin.string("token")
            if let token, token.count < 16 {
                throw ConfigurationError(key: admin.path + ".token", problem: "is shorter than 16 characters", fix: "use a long random value, e.g. from `openssl rand -base64 32`")
            }
            self.admin = AdminConfiguration(
                host: try admin.string("host", default: "127.0.0.1"),
                port: try admin.int("port", default: 8480, range: 0...65535),
                token: token
            )
        } else {
            self.admin = nil
        }
        unifiedPush = root.contains("unified_push") ? try UnifiedPushConfiguration(section: try root.section("unified_push")) : nil
    }
}

/// Connection settings under `xmpp`, which every component inherits unless it sets its own.
private struct ComponentDefaults {
    var host: String
    var port: Int
    var keepalive: Duration
    var connectTimeout: Duration
    var handshakeTimeout: Duration
    var reconnectInitialDelay: Duration
    var reconnectMaximumDelay: Duration
    var standbyRetry: Duration
    var healthyAfter: Duration
    var drainTimeout: Duration
    var maximumConcurrentRequests: Int
    var maximumStanzaBytes: Int
    var maximumDepth: Int
    var readInterval: Duration

    init(section: ConfigSection) throws(ConfigurationError) {
        host = try section.string("host", default: "127.0.0.1")
        port = try section.int("port", default: 5347, range: 1...65535)
        keepalive = try section.positiveDuration("keepalive", default: .seconds(60))
        connectTimeout = try section.positiveDuration("connect_timeout", default: .seconds(10))
        handshakeTimeout = try section.positiveDuration("handshake_timeout", default: .seconds(10))
        reconnectInitialDelay = try section.duration("reconnect_initial_delay", default: .seconds(1))
        reconnectMaximumDelay = try section.duration("reconnect_max_delay", default: .seconds(60))
        standbyRetry = try section.positiveDuration("standby_retry", default: .seconds(2))
        healthyAfter = try section.duration("healthy_after", default: .seconds(60))
        // The slowest publish path: a provider token refused and fetched again, then the push sent again,
        // each bounded by a vendor's 10 s request timeout, plus a burst window.
        drainTimeout = try section.duration("drain_timeout", default: .seconds(25))
        maximumConcurrentRequests = try section.int("max_concurrent_requests", default: 10_000, range: 1...1_000_000)
        maximumStanzaBytes = try section.int("max_stanza_size", default: 512 * 1024, range: 1024...(64 * 1024 * 1024))
        maximumDepth = try section.int("max_depth", default: 64, range: 8...1024)
        // Off unless set: publishes that arrive one by one at a steady 5,000/s cost half the CPU each
        // when read a millisecond's worth at a time (herald-bench path, "spaced"), but a server at its
        // limit sends them together already, and there holding reads lowered Herald's rate behind
        // Prosody by about 5% ("through Prosody, window 500"): Herald must never be what limits it.
        readInterval = try section.duration("read_interval", default: .zero)
        guard readInterval <= .milliseconds(5) else {
            throw ConfigurationError(
                key: section.path + ".read_interval", problem: "must be at most 5ms",
                fix: "it delays every read by up to that much; 0s reads at once"
            )
        }
        guard reconnectInitialDelay > .zero else {
            throw ConfigurationError(key: section.path + ".reconnect_initial_delay", problem: "must be greater than zero")
        }
        guard reconnectMaximumDelay >= reconnectInitialDelay else {
            throw ConfigurationError(
                key: section.path + ".reconnect_max_delay",
                problem: "must not be shorter than reconnect_initial_delay"
            )
        }
    }

    func component(from section: ConfigSection) throws(ConfigurationError) -> ComponentConfiguration {
        let domain = try section.requiredString("domain")
        guard let jid = JID(domain), jid.isDomain, domain.contains(".") || domain == "localhost" else {
            throw ConfigurationError(key: section.path + ".domain", problem: "'\(domain)' is not a domain name", fix: "e.g. push.example.com")
        }
        let secret = try section.requiredString(
            "secret",
            fix: "the component_secret from the XMPP server; set secret, secret_file, or \(ConfigTree.environmentName(for: section.path + ".secret"))"
        )
        return ComponentConfiguration(
            domain: jid.domainpart,
            secret: secret,
            host: try section.string("host", default: host),
            port: try section.int("port", default: port, range: 1...65535),
            keepaliveInterval: keepalive,
            connectTimeout: connectTimeout,
            handshakeTimeout: handshakeTimeout,
            reconnectSchedule: Backoff(initialDelay: reconnectInitialDelay, maximumDelay: reconnectMaximumDelay),
            standbyRetry: standbyRetry,
            healthyConnectionDuration: healthyAfter,
            drainTimeout: drainTimeout,
            drainReplyText: "push service is restarting",
            maximumConcurrentRequests: maximumConcurrentRequests,
            parserLimits: XMLStreamParser.Limits(maximumDepth: maximumDepth, maximumStanzaBytes: maximumStanzaBytes),
            readInterval: readInterval
        )
    }
}

extension HeraldConfiguration {
    private static func statelessApps(_ apps: [AppConfiguration]) throws(ConfigurationError) -> StatelessApps {
        var modules: [String: StatelessApps.Route] = [:]
        var fallback: StatelessApps.Route?
        var mongooseIM: [StatelessApps.Route] = []
        for configuration in apps {
            guard let stateless = configuration.stateless else { continue }
            let route = StatelessApps.Route(
                app: configuration.app.name, environment: configuration.app.defaultEnvironment,
                minimumInterval: stateless.minimumInterval, components: Set(configuration.components),
                services: configuration.app.services, apnsTopic: configuration.apns?.provider.topic
            )
            let key = stateless.path
            for module in stateless.pushModules {
                if let other = modules[module] {
                    throw ConfigurationError(key: key + ".push_modules", problem: "repeats \(module), which selects \(other.app)", fix: "give each pushModule to one app")
                }
                modules[module] = route
            }
            if stateless.isDefault {
                if let other = fallback {
                    throw ConfigurationError(key: key + ".default", problem: "is set for \(other.app) as well", fix: "make one app the default")
                }
                fallback = route
            }
            if stateless.mongooseIM { mongooseIM.append(route) }
        }
        return StatelessApps(modules: modules, fallback: fallback, mongooseIM: mongooseIM)
    }

    /// The apps a component domain serves, with its default first.
    public func appDirectory(for domain: String) -> AppDirectory {
        let served = apps.filter { $0.components.isEmpty || $0.components.contains(domain) }.map(\.app)
        return AppDirectory(apps: served, defaultApp: defaultApps[domain])
    }
}

/// A primary component reconnects with growing, jittered delays, so that a fleet of Heralds does not
/// hammer a restarting server in lockstep.
extension Backoff: ReconnectSchedule {}
