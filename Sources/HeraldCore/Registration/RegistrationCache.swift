import Synchronization

/// Registrations by node, kept in front of a store for delivering publishes, and coherent with it:
/// the store invalidates a node after every write to it, and whatever watches for changes made
/// elsewhere (PostgreSQL's notifications, SQLite's data version) invalidates or resets the rest.
///
/// - A read fills the cache only if nothing was invalidated while it ran (one generation for all),
///   so a notification that overtakes the read it concerns cannot leave the old row behind.
/// - Misses are not kept: a node unknown here is always looked up.
/// - It is off until its watcher runs, and off again, emptied, whenever the watcher loses track:
///   changes missed meanwhile cannot leave stale rows.
/// - Bounded by count: a full cache drops an arbitrary entry for each new one.
public final class RegistrationCache: Sendable {
    private struct State {
        var entries: [String: Registration] = [:]
        var generation: UInt64 = 0
        var enabled = false
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
    }

    /// What a read must hand back to `fill`, taken before the read starts.
    public struct Ticket: Sendable {
        fileprivate let generation: UInt64
    }

    /// The cached registration, or a ticket for filling the cache from a read that starts now.
    public func lookup(_ node: String) -> (registration: Registration?, ticket: Ticket?) {
        state.withLock { state in
            guard state.enabled else { return (nil, nil) }
            if let registration = state.entries[node] { return (registration, nil) }
            return (nil, Ticket(generation: state.generation))
        }
    }

    /// Keeps what a read found, unless something was invalidated since its ticket was taken.
    public func fill(_ registration: Registration, ticket: Ticket) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.enabled, state.generation == ticket.generation else { return }
            if state.entries[registration.node] == nil, state.entries.count >= capacity {
                state.entries.remove(at: state.entries.startIndex)
            }
            state.entries[registration.node] = registration
        }
    }

    public func invalidate(_ node: String) {
        state.withLock { state in
            state.generation &+= 1
            state.entries[node] = nil
        }
    }

    /// Empties the cache and turns it on or off (on: the listener hears every change from now on).
    public func reset(enabled: Bool) {
        state.withLock { state in
            state.generation &+= 1
            state.entries = [:]
            state.enabled = enabled
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }
    public var isEnabled: Bool { state.withLock { $0.enabled } }
}
