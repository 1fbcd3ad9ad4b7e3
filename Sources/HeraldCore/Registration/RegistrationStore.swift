import Foundation

/// Where registrations live. Implementations: in memory (tests), SQLite (the embedded default) and,
/// for several instances sharing work, PostgreSQL; callers see only this protocol.
///
/// Every method is a single statement's worth of work, so each backend can make it one round-trip.
public protocol RegistrationStore: Sendable {
    func registration(node: String) async throws -> Registration?
    /// The registration a publish is delivered with. It may come from a cache that trails the store by
    /// the time a change takes to reach it (milliseconds, on PostgreSQL); anything that decides on a
    /// registration's fate reads `registration(node:)`, which is the store itself.
    func registrationForDelivery(node: String) async throws -> Registration?
    /// `registrationForDelivery(node:)` if the store can answer without waiting: from its cache, or, for an
    /// embedded store, from a read on the calling thread. `.unknown` sends the caller to the async lookup
    /// (also for errors, which it reports). The publish fast path asks this first.
    func registrationForDeliveryNow(node: String) -> ImmediateLookup
    func registration(deviceKey: String) async throws -> Registration?
    /// Inserts, or replaces the registration with the same node.
    func save(_ registration: Registration) async throws
    /// Adds a registration unless its node is new and one of `limits` is reached; the counts are read in
    /// the same transaction as the insert, so concurrent registrations cannot overshoot a limit.
    /// Throws `RegistrationError.tooManyDevices`, `.domainLimitReached` or `.totalLimitReached`.
    func insert(_ registration: Registration, limits: RegistrationLimits) async throws
    /// Removes a registration; false if there was none.
    @discardableResult
    func delete(node: String) async throws -> Bool
    /// How many registrations an account has (by `accountKey`).
    func count(accountKey: String) async throws -> Int
    /// How many registrations an account's server has (by `accountDomain`).
    func count(accountDomain: String) async throws -> Int
    /// How many registrations there are in all.
    func count() async throws -> Int
    /// Registrations ordered by node, for listing; `after` pages past a node.
    func list(after node: String?, limit: Int) async throws -> [Registration]

    /// Removes a registration only while its token is still `token`: a dead token's registration goes,
    /// unless the device registered a new token meanwhile (through any instance). One statement.
    func delete(node: String, ifToken token: String) async throws -> Bool

    // Pending pushes: one per node, kept so that they survive a restart or a crash. Several instances
    // may share a store, so each row is held by one instance (`owner`) under a lease it renews while
    // it lives; only its holder sends it, and a dead instance's rows pass to another when the lease
    // runs out. Removing the registration removes its pending push.

    /// Keeps a push waiting for its next attempt, held by `owner` until `leaseUntil`; saving replaces.
    func savePending(_ push: PendingPush, owner: String, leaseUntil: Date) async throws
    /// Removes a node's pending push if `owner` still holds it (another instance may have replaced it).
    func deletePending(node: String, owner: String) async throws
    /// Takes up to `limit` pending pushes nobody holds (never held, released, or leased until before
    /// `now`), soonest first, holding them for `owner` until `leaseUntil`. Each row goes to one caller
    /// however many claim at once.
    func claimPendingPushes(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [PendingPush]
    /// Extends every lease `owner` holds: it is alive.
    func renewPendingClaims(owner: String, until: Date) async throws
    /// Gives up every lease `owner` holds, for another instance to take at once: when shutting down,
    /// and when starting under the name of a previous run (SQLite's one instance).
    func releasePendingClaims(owner: String) async throws
    /// The pending pushes, soonest first, whoever holds them (for listing and moving stores).
    func pendingPushes(limit: Int) async throws -> [PendingPush]

    /// Writes when each node last had a push accepted and why its last one failed, in one go (the
    /// dispatcher collects them off the hot path). Nodes no longer registered are skipped.
    func recordActivity(_ activity: [String: RegistrationActivity]) async throws
}

extension RegistrationStore {
    /// Stores without a cache deliver with what they hold.
    public func registrationForDelivery(node: String) async throws -> Registration? {
        try await registration(node: node)
    }

    /// Stores that cannot answer without waiting.
    public func registrationForDeliveryNow(node: String) -> ImmediateLookup {
        .unknown
    }
}

/// What a store knows of a node without waiting.
public enum ImmediateLookup: Sendable, Hashable {
    case found(Registration)
    /// The store itself has no such node (never a cache's miss).
    case absent
    /// Not known without waiting: ask `registrationForDelivery(node:)`.
    case unknown
}
