import Foundation

/// Where registrations live. Implementations: in memory (tests), SQLite (the embedded default) and,
/// for several instances sharing work, PostgreSQL; callers see only this protocol.
///
/// Every method is a single statement's worth of work, so each backend can make it one round-trip.
public protocol RegistrationStore: Sendable {
    func registration(node: String) async throws -> Registration?
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

    /// Keeps a push waiting for its next attempt, so that it survives a restart: one per node, saving
    /// replaces. Removing the registration removes it too.
    func savePending(_ push: PendingPush) async throws
    func deletePending(node: String) async throws
    /// The pending pushes, soonest first.
    func pendingPushes(limit: Int) async throws -> [PendingPush]

    /// Writes when each node last had a push accepted and why its last one failed, in one go (the
    /// dispatcher collects them off the hot path). Nodes no longer registered are skipped.
    func recordActivity(_ activity: [String: RegistrationActivity]) async throws
}
