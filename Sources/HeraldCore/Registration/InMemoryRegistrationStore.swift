import Synchronization

/// A store that keeps registrations in memory only: for tests, and for trying Herald out.
public final class InMemoryRegistrationStore: RegistrationStore {
    private let registrations = Mutex<[String: Registration]>([:])

    public init(_ initial: [Registration] = []) {
        registrations.withLock { all in
            for registration in initial { all[registration.node] = registration }
        }
    }

    public func registration(node: String) async throws -> Registration? {
        registrations.withLock { $0[node] }
    }

    public func registration(deviceKey: String) async throws -> Registration? {
        registrations.withLock { $0.values.first { $0.deviceKey == deviceKey } }
    }

    public func save(_ registration: Registration) async throws {
        registrations.withLock { $0[registration.node] = registration }
    }

    public func delete(node: String) async throws -> Bool {
        registrations.withLock { $0.removeValue(forKey: node) != nil }
    }

    public func count(accountKey: String) async throws -> Int {
        registrations.withLock { $0.values.count { $0.accountKey == accountKey } }
    }

    public func count() async throws -> Int {
        registrations.withLock { $0.count }
    }

    public func list(after node: String?, limit: Int) async throws -> [Registration] {
        registrations.withLock { all in
            Array(all.values.filter { node == nil || $0.node > node! }.sorted { $0.node < $1.node }.prefix(limit))
        }
    }
}
