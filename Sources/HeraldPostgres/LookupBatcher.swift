import Synchronization

/// Folds concurrent lookups by key into batch queries: a lookup made while `concurrency` batches are
/// already in flight waits for the next one, which carries every key asked for meanwhile (up to
/// `batchSize`). Under load one round trip answers many publishes, and each costs the database and
/// the client a fraction of a query; an idle lookup is sent at once, alone.
///
/// Nothing is cached: every answer comes from a query that started after the lookup was made, so a
/// batch is as fresh as a query of its own would be.
final class LookupBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    typealias Fetch = @Sendable ([Key]) async throws -> [Key: Value]

    private typealias Waiting = [Key: [CheckedContinuation<Value?, any Error>]]

    private struct Queue {
        var waiting: Waiting = [:]
        /// Keys in the order they were first asked for, so no key waits behind later ones for long.
        var order: [Key] = []
        /// Batches being sent, by lookups themselves or by a draining task.
        var running = 0

        mutating func enqueue(_ key: Key, _ continuation: CheckedContinuation<Value?, any Error>) {
            if waiting[key] == nil { order.append(key) }
            waiting[key, default: []].append(continuation)
        }

        /// Takes a batch slot and up to `count` waiting keys.
        mutating func lead(_ count: Int) -> Waiting {
            running += 1
            return take(count)
        }

        mutating func take(_ count: Int) -> Waiting {
            let keys = order.prefix(count)
            order.removeFirst(keys.count)
            var batch: Waiting = [:]
            for key in keys { batch[key] = waiting.removeValue(forKey: key) }
            return batch
        }
    }

    private let queue = Mutex(Queue())
    private let fetch: Fetch
    private let batchSize: Int
    private let concurrency: Int

    init(batchSize: Int = 256, concurrency: Int = 2, fetch: @escaping Fetch) {
        precondition(batchSize > 0 && concurrency > 0)
        self.batchSize = batchSize
        self.concurrency = concurrency
        self.fetch = fetch
    }

    func load(_ key: Key) async throws -> Value? {
        // With a batch to spare, this lookup sends one itself, taking along whatever waits: an idle
        // lookup costs no hand-off to another task.
        guard let others = queue.withLock({ queue in queue.running < concurrency ? queue.lead(batchSize - 1) : nil }) else {
            return try await withCheckedThrowingContinuation { continuation in
                let startsRunner = queue.withLock { queue in
                    queue.enqueue(key, continuation)
                    guard queue.running < concurrency else { return false }
                    queue.running += 1
                    return true
                }
                if startsRunner { Task { await self.drain() } }
            }
        }
        defer {
            // Lookups that arrived meanwhile and found every batch taken wait for this one's slot.
            let waiting = queue.withLock { queue in
                if queue.order.isEmpty { queue.running -= 1 }
                return !queue.order.isEmpty
            }
            if waiting { Task { await self.drain() } }
        }
        let keys = others[key] == nil ? [key] + others.keys : Array(others.keys)
        do {
            let found = try await fetch(keys)
            for (other, continuations) in others {
                for continuation in continuations { continuation.resume(returning: found[other]) }
            }
            return found[key]
        } catch {
            for continuation in others.values.joined() { continuation.resume(throwing: error) }
            throw error
        }
    }

    /// Sends batches until nothing waits, then gives up its slot.
    private func drain() async {
        while let batch = nextBatch() {
            do {
                let found = try await fetch(Array(batch.keys))
                for (key, continuations) in batch {
                    for continuation in continuations { continuation.resume(returning: found[key]) }
                }
            } catch {
                for continuation in batch.values.joined() { continuation.resume(throwing: error) }
            }
        }
    }

    private func nextBatch() -> Waiting? {
        queue.withLock { queue in
            guard !queue.order.isEmpty else {
                queue.running -= 1
                return nil
            }
            return queue.take(batchSize)
        }
    }
}
