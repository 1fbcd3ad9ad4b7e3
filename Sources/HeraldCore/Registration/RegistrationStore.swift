/// Where registrations live. Implementations: in memory (tests), SQLite (the embedded default) and,
/// for several instances sharing work, PostgreSQL; callers see only this protocol.
///
/// Every method is a single statement's worth of work, so each backend can make it one round-trip.
public protocol RegistrationStore: Sendable {
    func registration(node: String) async throws -> Registration?
    func registration(deviceKey: String) async throws -> Registration?
    /// Inserts, or replaces the registration with the same node.
    func save(_ registration: Registration) async throws
    /// Removes a registration; false if there was none.
    @discardableResult
    func delete(node: String) async throws -> Bool
    /// How many registrations an account has (by `accountKey`).
    func count(accountKey: String) async throws -> Int
    /// How many registrations there are in all.
    func count() async throws -> Int
    /// Registrations ordered by node, for listing; `after` pages past a node.
    func list(after node: String?, limit: Int) async throws -> [Registration]
}
