import Foundation

/// Apps whose devices push without registering, as fpush serves Monal: the client enables push with its
/// hex APNs token as the node and a `pushModule` publish-option naming the app, and the publish is sent
/// to that token. Opt-in per app (`apps[].stateless`): with no secret, anyone whose server can reach the
/// component and who knows a token can push to it, so each node is rate-limited.
public struct StatelessApps: Sendable {
    /// Where a stateless publish goes.
    public struct Route: Sendable, Hashable {
        public var app: String
        /// The environment its tokens belong to; the other is tried once on BadDeviceToken.
        public var environment: APNsEnvironment
        /// Least time between two pushes to one node (fpush keeps 20 s).
        public var minimumInterval: Duration
        /// Component domains that serve the app; empty means every one.
        public var components: Set<String>

        public init(app: String, environment: APNsEnvironment = .production, minimumInterval: Duration = .seconds(10), components: Set<String> = []) {
            self.app = app
            self.environment = environment
            self.minimumInterval = minimumInterval
            self.components = components
        }
    }

    /// fpush's bounds on a token: it drops anything shorter or longer.
    public static let tokenLengths = 64...512

    /// By `pushModule` value.
    public let modules: [String: Route]
    /// For a publish without `pushModule` (fpush's default module).
    public let fallback: Route?

    public init(modules: [String: Route] = [:], fallback: Route? = nil) {
        self.modules = modules
        self.fallback = fallback
    }

    public static let none = StatelessApps()

    public var isEmpty: Bool { modules.isEmpty && fallback == nil }

    /// The registration a stateless publish stands for, and its node's rate limit; nil when the publish
    /// names no stateless app served at its component, or its node is no APNs token.
    public func registration(for publish: Publish, now: Date) -> (registration: Registration, minimumInterval: Duration)? {
        // fpush's rule: a named module must exist; only a publish naming none goes to the default.
        let route: Route? = if let module = publish.pushModule { modules[module] } else { fallback }
        guard let route else { return nil }
        if !route.components.isEmpty {
            guard let component = publish.component, route.components.contains(component) else { return nil }
        }
        guard Self.tokenLengths.contains(publish.node.utf8.count), publish.node.utf8.allSatisfy(\.isHexDigit) else { return nil }
        let registration = Registration(
            node: publish.node, secret: nil, app: route.app, service: .apns, dialect: .stateless,
            token: publish.node.lowercased(), environment: route.environment,
            // Only the publishing server itself may publish (see `PushDispatcher.authorize`).
            accountDomain: publish.publisherDomain,
            deviceKey: "stateless:\(publish.node.lowercased())", createdAt: now
        )
        return (registration, route.minimumInterval)
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }
}
