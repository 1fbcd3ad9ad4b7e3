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
/// - Bounded by count: a full cache drops its oldest entry for each new one (first in, first out, over
///   a ring of the nodes in the order they came in). Dropping whatever `Dictionary` holds first, as it
///   once did, made lookups slow once a million nodes went through a cache of 20,000: a tenth of the CPU
///   of every publish went to probing the table.
public final class RegistrationCache: Sendable {
    private struct State {
        /// Each entry with its place in `ring`.
        var entries: [String: (registration: Registration, slot: Int)] = [:]
        /// The nodes in the order they came in; a slot whose node went (invalidated) waits to be reused.
        var ring: [String?] = []
        var next = 0
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
            if let entry = state.entries[node] { return (entry.registration, nil) }
            return (nil, Ticket(generation: state.generation))
        }
    }

    /// Keeps what a read found, unless something was invalidated since its ticket was taken.
    public func fill(_ registration: Registration, ticket: Ticket) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.enabled, state.generation == ticket.generation else { return }
            let node = registration.node
            if let slot = state.entries[node]?.slot {
                state.entries[node] = (registration, slot)
                return
            }
            if state.ring.isEmpty { state.ring = Array(repeating: nil, count: capacity) }
            let slot = state.next
            // The oldest node goes, if the slot still holds it (it may have been invalidated and come back elsewhere).
            if let oldest = state.ring[slot], state.entries[oldest]?.slot == slot { state.entries[oldest] = nil }
            state.ring[slot] = node
            state.entries[node] = (registration, slot)
            state.next = (slot + 1) % capacity
        }
    }

    /// Brings cached registrations' `lastPushAt` and `lastFailure` up to what was just written, without
    /// invalidating anything: activity is bookkeeping, and deliveries do not depend on it.
    ///
    /// A busy second's activity is thousands of nodes, and every publish's lookup waits for this lock:
    /// updated all at once, copying each entry out and back, 5,000 nodes held it for 3-4 ms each second.
    /// Entries are changed in place, `activityChunk` nodes per hold.
    public func recordActivity(_ activity: [String: RegistrationActivity]) {
        var pending = activity.makeIterator()
        var more = true
        while more {
            more = state.withLock { state in
                guard state.enabled else { return false }
                for _ in 0..<Self.activityChunk {
                    guard let (node, update) = pending.next() else { return false }
                    guard let index = state.entries.index(forKey: node) else { continue }
                    state.entries.values[index].registration.lastPushAt = update.lastPushAt ?? state.entries.values[index].registration.lastPushAt
                    state.entries.values[index].registration.lastFailure = update.lastFailure
                }
                return true
            }
        }
    }

    /// Nodes updated per hold of the lock by `recordActivity`.
    public static let activityChunk = 256

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
            state.ring = []
            state.next = 0
            state.enabled = enabled
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }
    public var isEnabled: Bool { state.withLock { $0.enabled } }
}
