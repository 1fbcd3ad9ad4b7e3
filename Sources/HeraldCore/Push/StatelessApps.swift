import Foundation

/// Apps whose devices push without registering. Two dialects:
/// - fpush's, for Monal: the client enables push with its hex APNs token as the node and a `pushModule`
///   publish-option naming the app;
/// - MongooseIM's: the client's enable form carries the device (`device_id`, `service`, `mode`, `topic`),
///   which its server sends along as publish-options.
/// Opt-in per app (`apps[].stateless`): with no secret, anyone whose server can reach the component and
/// who knows a token can push to it, so each node is rate-limited.
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
        /// The vendors the app has, and its APNs topic (which a MongooseIM publish may name).
        public var services: Set<PushVendor>
        public var apnsTopic: String?

        public init(
            app: String, environment: APNsEnvironment = .production, minimumInterval: Duration = .seconds(10),
            components: Set<String> = [], services: Set<PushVendor> = [.apns], apnsTopic: String? = nil
        ) {
            self.app = app
            self.environment = environment
            self.minimumInterval = minimumInterval
            self.components = components
            self.services = services
            self.apnsTopic = apnsTopic
        }

        func serves(_ publish: Publish) -> Bool {
            guard !components.isEmpty else { return true }
            return publish.component.map(components.contains) ?? false
        }
    }

    /// fpush's bounds on a token: it drops anything shorter or longer.
    public static let tokenLengths = 64...512

    /// By `pushModule` value.
    public let modules: [String: Route]
    /// For a publish without `pushModule` (fpush's default module).
    public let fallback: Route?
    /// The apps that take MongooseIM's publishes.
    public let mongooseIM: [Route]

    public init(modules: [String: Route] = [:], fallback: Route? = nil, mongooseIM: [Route] = []) {
        self.modules = modules
        self.fallback = fallback
        self.mongooseIM = mongooseIM
    }

    public static let none = StatelessApps()

    public var isEmpty: Bool { modules.isEmpty && fallback == nil && mongooseIM.isEmpty }

    /// An FCM registration token is opaque, but never this long nor with spaces in it.
    static let maximumFCMTokenBytes = 4096

    /// The registration a stateless publish stands for, and its node's rate limit; nil when the publish
    /// names no stateless app served at its component, or its node is no APNs token.
    public func registration(for publish: Publish, now: Date) -> (registration: Registration, minimumInterval: Duration)? {
        guard !isEmpty else { return nil }
        if let device = publish.device { return mongooseIMRegistration(device, publish, now: now) }
        // fpush's rule: a named module must exist; only a publish naming none goes to the default.
        let route: Route? = if let module = publish.pushModule { modules[module] } else { fallback }
        guard let route, route.serves(publish), Self.isAPNsToken(publish.node) else { return nil }
        return (registration(publish, route, service: .apns, token: publish.node, now: now), route.minimumInterval)
    }

    /// The topic picks among the apps that take MongooseIM's publishes; without one, there must be one.
    private func mongooseIMRegistration(_ device: Publish.Device, _ publish: Publish, now: Date) -> (registration: Registration, minimumInterval: Duration)? {
        let candidates = mongooseIM.filter { $0.serves(publish) }
        let route = if let topic = device.topic { candidates.first { $0.apnsTopic == topic } } else { candidates.count == 1 ? candidates.first : nil }
        guard let route, let service = PushVendor(rawValue: device.service), service != .webpush, route.services.contains(service) else { return nil }
        switch service {
        case .apns: guard Self.isAPNsToken(device.token) else { return nil }
        default: guard device.token.utf8.count <= Self.maximumFCMTokenBytes, !device.token.contains(where: \.isWhitespace) else { return nil }
        }
        return (registration(publish, route, service: service, token: device.token, now: now), route.minimumInterval)
    }

    private static func isAPNsToken(_ text: String) -> Bool {
        tokenLengths.contains(text.utf8.count) && text.utf8.allSatisfy(\.isHexDigit)
    }

    private func registration(_ publish: Publish, _ route: Route, service: PushVendor, token: String, now: Date) -> Registration {
        let token = service == .apns ? token.lowercased() : token
        return Registration(
            node: publish.node, secret: nil, app: route.app, service: service, dialect: .stateless,
            token: token, environment: service == .apns ? route.environment : nil,
            // Only the publishing server itself may publish (see `PushDispatcher.authorize`).
            accountDomain: publish.publisherDomain,
            deviceKey: "stateless:\(service.rawValue):\(token)", createdAt: now
        )
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }
}
