import Foundation
import HeraldCore
import Synchronization

/// A store that keeps registrations in memory only, for tests.
///
/// Indexed like the SQLite store (by node, device key, account and domain), so that it stays usable
/// at the volumes the tests drive through it.
public final class InMemoryRegistrationStore: RegistrationStore {
    private struct Contents {
        var byNode: [String: Registration] = [:]
        var nodeByDeviceKey: [String: String] = [:]
        var perAccount: [String: Int] = [:]
        var perDomain: [String: Int] = [:]
        var pending: [String: Held] = [:]

        mutating func put(_ registration: Registration) {
            remove(node: registration.node)
            byNode[registration.node] = registration
            nodeByDeviceKey[registration.deviceKey] = registration.node
            perAccount[registration.accountKey ?? "", default: 0] += 1
            perDomain[registration.accountDomain ?? "", default: 0] += 1
        }

        @discardableResult
        mutating func remove(node: String) -> Bool {
            guard let old = byNode.removeValue(forKey: node) else { return false }
            if nodeByDeviceKey[old.deviceKey] == node { nodeByDeviceKey[old.deviceKey] = nil }
            perAccount[old.accountKey ?? "", default: 1] -= 1
            perDomain[old.accountDomain ?? "", default: 1] -= 1
            return true
        }
    }

    /// A pending push and who holds it until when, as the SQL stores keep them.
    private struct Held {
        var push: PendingPush
        var owner: String?
        var leaseUntil: Date?
    }

    private let contents = Mutex(Contents())

    public init(_ initial: [Registration] = []) {
        contents.withLock { contents in
            for registration in initial { contents.put(registration) }
        }
    }

    public func registration(node: String) async throws -> Registration? {
        contents.withLock { $0.byNode[node] }
    }

    /// Copies deliveries read instead of the store's own, as a cache that has not yet heard of a
    /// change would hand them out.
    public let staleForDelivery = Mutex<[String: Registration]>([:])

    public func registrationForDelivery(node: String) async throws -> Registration? {
        if let stale = staleForDelivery.withLock({ $0[node] }) { return stale }
        return try await registration(node: node)
    }

    /// Whether `registrationForDeliveryNow` answers (as SQLite does) or sends callers to the async
    /// lookup (as PostgreSQL does on a cache miss).
    public let answersNow = Atomic<Bool>(true)

    public func registrationForDeliveryNow(node: String) -> ImmediateLookup {
        guard answersNow.load(ordering: .relaxed) else { return .unknown }
        if let stale = staleForDelivery.withLock({ $0[node] }) { return .found(stale) }
        return contents.withLock { $0.byNode[node] }.map(ImmediateLookup.found) ?? .absent
    }

    public func registration(deviceKey: String) async throws -> Registration? {
        contents.withLock { contents in contents.nodeByDeviceKey[deviceKey].flatMap { contents.byNode[$0] } }
    }

    public func save(_ registration: Registration) async throws {
        try contents.withLock { contents in
            // The same constraint as SQLite's UNIQUE device_key.
            if let holder = contents.nodeByDeviceKey[registration.deviceKey], holder != registration.node {
                throw InMemoryStoreError.deviceKeyTaken
            }
            contents.put(registration)
        }
    }

    public func insert(_ registration: Registration, limits: RegistrationLimits) async throws {
        try contents.withLock { contents in
            if contents.byNode[registration.node] == nil, let refusal = limits.refusal(
                account: contents.perAccount[registration.accountKey ?? ""] ?? 0,
                domain: contents.perDomain[registration.accountDomain ?? ""] ?? 0,
                total: contents.byNode.count
            ) {
                throw refusal
            }
            if let holder = contents.nodeByDeviceKey[registration.deviceKey], holder != registration.node {
                throw InMemoryStoreError.deviceKeyTaken
            }
            contents.put(registration)
        }
    }

    public func delete(node: String) async throws -> Bool {
        contents.withLock { contents in
            contents.pending[node] = nil
            return contents.remove(node: node)
        }
    }

    public func delete(node: String, ifToken token: String) async throws -> Bool {
        contents.withLock { contents in
            guard contents.byNode[node]?.token == token else { return false }
            contents.pending[node] = nil
            return contents.remove(node: node)
        }
    }

    public func savePending(_ push: PendingPush, owner: String, leaseUntil: Date) async throws {
        contents.withLock { $0.pending[push.node] = Held(push: push, owner: owner, leaseUntil: leaseUntil) }
    }

    public func deletePending(node: String, owner: String) async throws {
        contents.withLock { contents in
            if contents.pending[node]?.owner == owner { contents.pending[node] = nil }
        }
    }

    public func claimPendingPushes(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [PendingPush] {
        contents.withLock { contents in
            let claimable = contents.pending.values.filter { held in
                held.owner == nil || (held.leaseUntil ?? now) < now
            }
            let taken = claimable.sorted { $0.push.notBefore < $1.push.notBefore }.prefix(limit).map(\.push)
            for push in taken { contents.pending[push.node] = Held(push: push, owner: owner, leaseUntil: leaseUntil) }
            return taken
        }
    }

    public func renewPendingClaims(owner: String, until: Date) async throws {
        contents.withLock { contents in
            for (node, held) in contents.pending where held.owner == owner { contents.pending[node]?.leaseUntil = until }
        }
    }

    public func releasePendingClaims(owner: String) async throws {
        contents.withLock { contents in
            for (node, held) in contents.pending where held.owner == owner {
                contents.pending[node]?.owner = nil
                contents.pending[node]?.leaseUntil = nil
            }
        }
    }

    public func recordActivity(_ activity: [String: RegistrationActivity]) async throws {
        contents.withLock { contents in
            for (node, update) in activity {
                guard var registration = contents.byNode[node] else { continue }
                registration.lastPushAt = update.lastPushAt ?? registration.lastPushAt
                registration.lastFailure = update.lastFailure
                contents.byNode[node] = registration
            }
        }
    }

    public func pendingPushes(limit: Int) async throws -> [PendingPush] {
        contents.withLock { contents in Array(contents.pending.values.map(\.push).sorted { $0.notBefore < $1.notBefore }.prefix(limit)) }
    }

    public func count(accountKey: String) async throws -> Int {
        contents.withLock { $0.perAccount[accountKey] ?? 0 }
    }

    public func count(accountDomain: String) async throws -> Int {
        contents.withLock { $0.perDomain[accountDomain] ?? 0 }
    }

    public func count() async throws -> Int {
        contents.withLock { $0.byNode.count }
    }

    public func list(after node: String?, limit: Int) async throws -> [Registration] {
        contents.withLock { contents in
            Array(contents.byNode.values.filter { node == nil || $0.node > node! }.sorted { $0.node < $1.node }.prefix(limit))
        }
    }
}

/// What the in-memory store refuses, as SQLite's constraints would.
public enum InMemoryStoreError: Error, Sendable, Hashable {
    case deviceKeyTaken
}
