import Crypto
import Foundation
import HeraldSupport
import Synchronization

/// Registers and unregisters devices: finds a device's earlier registration so it keeps its node and
/// secret, enforces the per-account limits, and mints nodes and secrets from the system CSPRNG.
public final class RegistrationService: Sendable {
    public let store: any RegistrationStore
    public let policy: RegistrationPolicy
    private let hashKey: SymmetricKey
    private let clock: any ServerClock
    private let metrics: HeraldMetrics
    private let rateLimiter: Mutex<RateLimiter<UInt64>>

    /// - Parameter hashKey: keys the hashes that stand in for account JIDs; keep it stable, or devices
    ///   re-registering get new nodes.
    public init(
        store: any RegistrationStore,
        policy: RegistrationPolicy = .init(),
        hashKey: [UInt8] = Array("herald-registration-v1".utf8),
        clock: any ServerClock = SystemClock(),
        metrics: HeraldMetrics = .disabled
    ) {
        self.store = store
        self.policy = policy
        self.hashKey = SymmetricKey(data: hashKey)
        self.clock = clock
        self.metrics = metrics
        rateLimiter = Mutex(RateLimiter(limit: policy.maximumRegistrationsPerWindow, window: policy.rateWindow.seconds))
    }

    public func register(_ request: RegistrationRequest) async throws -> Registration {
        do {
            return try await admitAndRegister(request)
        } catch let error as RegistrationError {
            if let label = error.refusalLabel { metrics.registrationRefused(reason: label) }
            throw error
        }
    }

    private func admitAndRegister(_ request: RegistrationRequest) async throws -> Registration {
        guard request.app.services.contains(request.service) else {
            throw RegistrationError.serviceNotConfigured(request.service)
        }
        if let allowed = policy.allowedDomains, !allowed.contains(request.accountDomain.lowercased()) {
            throw RegistrationError.domainNotAllowed
        }
        let accountDigest = keyedDigest(["account", request.app.name, request.account])
        let accountKey = Hex.encode(accountDigest)
        let current = clock.wallTime
        // The digest's first 64 bits stand for the account in the limiter: a collision (one in 2^64)
        // only shares a window.
        let rateKey = accountDigest.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        guard rateLimiter.withLock({ $0.admit(rateKey, at: current) }) else { throw RegistrationError.rateLimited }
        // The dialect is part of the device's identity, not the vendor: a p2 client switching between
        // register-push-apns and register-push-fcm keeps its one registration.
        let deviceKey = deviceKey(app: request.app, dialect: request.dialect, account: request.account, deviceID: request.deviceID, muc: request.muc)
        let timestamp = current

        if var existing = try await store.registration(deviceKey: deviceKey) {
            existing.service = request.service
            existing.token = request.token
            existing.voipToken = request.voipToken
            existing.webPushKeys = request.webPushKeys
            existing.environment = request.environment ?? existing.environment
            existing.updatedAt = timestamp
            existing.lastFailure = nil
            if request.issueSecret, existing.secret == nil { existing.secret = Self.randomString(bytes: 18) }
            try await store.save(existing)
            return existing
        }

        let node: String
        if let requested = request.requestedNode {
            // A known node must not let another account take over its pushes.
            if let holder = try await store.registration(node: requested), holder.accountKey != accountKey {
                throw RegistrationError.nodeTaken
            }
            node = requested
        } else {
            node = Self.node(at: timestamp)
        }
        let registration = Registration(
            node: node,
            secret: request.issueSecret ? Self.randomString(bytes: 18) : nil,
            app: request.app.name,
            service: request.service,
            dialect: request.dialect,
            token: request.token,
            voipToken: request.voipToken,
            webPushKeys: request.webPushKeys,
            environment: request.service == .apns ? (request.environment ?? request.app.defaultEnvironment) : nil,
            accountDomain: request.accountDomain,
            accountKey: accountKey,
            pushAccount: pushAccount(for: request),
            channel: request.muc.map { Self.sha1Hex($0 + "\u{0}" + request.deviceID) },
            deviceKey: deviceKey,
            createdAt: timestamp
        )
        try await store.insert(registration, limits: policy.limits)
        return registration
    }

    /// Removes the registration the same device made with `register`.
    @discardableResult
    public func unregister(
        app: App,
        dialect: RegistrationDialect,
        account: String,
        deviceID: String,
        muc: String? = nil
    ) async throws -> Registration {
        let deviceKey = deviceKey(app: app, dialect: dialect, account: account, deviceID: deviceID, muc: muc)
        guard let registration = try await store.registration(deviceKey: deviceKey) else { throw RegistrationError.notFound }
        try await store.delete(node: registration.node)
        return registration
    }

    /// The registration behind `node`, for the operator's API.
    public func registration(node: String) async throws -> Registration? {
        try await store.registration(node: node)
    }

    /// Removes the registration behind `node` whoever made it (the operator's API); false if none.
    public func remove(node: String) async throws -> Bool {
        try await store.delete(node: node)
    }

    /// Removes the registration behind `node` if it belongs to `account`.
    @discardableResult
    public func unregister(app: App, node: String, account: String) async throws -> Registration {
        guard let registration = try await store.registration(node: node),
            registration.app == app.name,
            registration.accountKey == keyedHash(["account", app.name, account])
        else { throw RegistrationError.notFound }
        try await store.delete(node: node)
        return registration
    }

    /// What the push payload will carry as `account` (see `Registration`).
    private func pushAccount(for request: RegistrationRequest) -> String? {
        switch request.dialect {
        case .tigase: request.account
        case .p2: Self.sha1Hex(request.account + "\u{0}" + request.deviceID)
        case .v1, .webpush, .http, .stateless: nil
        }
    }

    private func deviceKey(app: App, dialect: RegistrationDialect, account: String, deviceID: String, muc: String?) -> String {
        keyedHash(["device", app.name, dialect.rawValue, account, deviceID, muc ?? ""])
    }

    private func keyedHash(_ parts: [String]) -> String {
        Hex.encode(keyedDigest(parts))
    }

    private func keyedDigest(_ parts: [String]) -> HashedAuthenticationCode<SHA256> {
        HMAC<SHA256>.authenticationCode(for: Array(parts.joined(separator: "\u{0}").utf8), using: hashKey)
    }

    static func sha1Hex(_ text: String) -> String {
        Hex.encode(Insecure.SHA1.hash(data: Array(text.utf8)))
    }

    /// A new node: the time in milliseconds (8 characters), then 12 random bytes (16 characters, 96 bits).
    ///
    /// Time first, in digits that sort as their values do, so that new nodes land at the end of the store's
    /// node index (as UUIDv7 does) instead of on a random page: with a million registrations, a random
    /// index page per registration was read back and rewritten at every commit. The random part keeps
    /// nodes unguessable; a publish needs the secret as well wherever the dialect has one.
    ///
    /// The leading digit counts from `0`, not `-`: its value stays 0 until 2109, and a node that began
    /// with `-` would be taken for an option by every command line it was pasted into (`push-test NODE`).
    static func node(at time: Date) -> String {
        let milliseconds = UInt64(max(0, time.timeIntervalSince1970 * 1000))
        var text: [UInt8] = []
        text.reserveCapacity(24)
        text.append(sortableDigits[min(63, Int(milliseconds >> 42) + 1)])
        for shift in stride(from: 36, through: 0, by: -6) {
            text.append(sortableDigits[Int(milliseconds >> UInt64(shift) & 0x3F)])
        }
        return String(decoding: text, as: UTF8.self) + randomString(bytes: 12)
    }

    /// base64url's 64 characters in ASCII order, so that a string of them sorts as the number it spells.
    static let sortableDigits = Array("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz".utf8)

    /// `bytes` from the system CSPRNG as unpadded base64url (18 bytes: 24 characters, 144 bits).
    static func randomString(bytes count: Int) -> String {
        // Eight bytes per draw: drawing byte by byte was one getrandom(2) call each.
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
        }
        bytes.removeLast(bytes.count - count)
        return Base64URL.encode(bytes)
    }
}
