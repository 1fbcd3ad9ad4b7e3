import Synchronization
import Testing

@testable import HeraldPostgres

@Suite struct LookupBatcherTests {
    /// A fetch that records each batch and answers only when `gate` is opened, so a test can pile up
    /// lookups behind the batches in flight.
    final class GatedFetch: Sendable {
        let batches = Mutex<[[Int]]>([])
        let gate = Mutex<[CheckedContinuation<Void, Never>]>([])
        let open = Atomic<Bool>(false)

        func fetch(_ keys: [Int]) async throws -> [Int: String] {
            batches.withLock { $0.append(keys) }
            if !open.load(ordering: .relaxed) {
                await withCheckedContinuation { continuation in
                    let wait = gate.withLock { waiting in
                        guard !open.load(ordering: .relaxed) else { return false }
                        waiting.append(continuation)
                        return true
                    }
                    if !wait { continuation.resume() }
                }
            }
            if keys.contains(-1) { throw Failure() }
            return Dictionary(uniqueKeysWithValues: keys.filter { $0 % 2 == 0 }.map { ($0, "value \($0)") })
        }

        func release() {
            let waiting = gate.withLock { waiting in
                open.store(true, ordering: .relaxed)
                defer { waiting = [] }
                return waiting
            }
            for continuation in waiting { continuation.resume() }
        }

        var batchCount: Int { batches.withLock { $0.count } }
    }

    struct Failure: Error {}

    @Test func lookupsMadeWhileBatchesAreInFlightShareTheNextBatch() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<Int, String>(batchSize: 1000, concurrency: 1) { try await fetch.fetch($0) }
        try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            group.addTask { (0, try await batcher.load(0)) }
            // The first lookup is alone in the batch in flight; the next 500 (some asked twice) wait.
            while fetch.batchCount == 0 { await Task.yield() }
            for key in 1...500 { group.addTask { (key, try await batcher.load(key)) } }
            for key in 1...50 { group.addTask { (key, try await batcher.load(key)) } }
            try await Task.sleep(for: .milliseconds(200))
            fetch.release()
            var answers = 0
            for try await (key, value) in group {
                #expect(value == (key % 2 == 0 ? "value \(key)" : nil), "each lookup gets its own key's answer")
                answers += 1
            }
            #expect(answers == 551)
        }
        let batches = fetch.batches.withLock { $0 }
        #expect(batches.first == [0])
        #expect(batches.dropFirst().joined().sorted() == Array(1...500), "every other key asked for once, duplicates folded")
        #expect(batches.count <= 3, "the waiting lookups went out together, not one by one: \(batches.map(\.count))")
    }

    @Test func aBatchNeverExceedsItsSizeAndNoKeyIsLost() async throws {
        let fetch = GatedFetch()
        fetch.release()
        let batcher = LookupBatcher<Int, String>(batchSize: 64, concurrency: 2) { try await fetch.fetch($0) }
        let found = try await withThrowingTaskGroup(of: String?.self) { group in
            for key in 0..<5000 { group.addTask { try await batcher.load(key) } }
            return try await group.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        }
        #expect(found == 2500)
        let batches = fetch.batches.withLock { $0 }
        #expect(batches.allSatisfy { $0.count <= 64 })
        #expect(batches.joined().count == 5000)
    }

    @Test func aFailedBatchFailsEveryLookupInItAndTheNextBatchStillRuns() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<Int, String>(batchSize: 100, concurrency: 1) { try await fetch.fetch($0) }
        let first = Task { try await batcher.load(2) }
        while fetch.batchCount == 0 { await Task.yield() }
        let failing = Task { try await batcher.load(-1) }
        let sharing = Task { try await batcher.load(4) }
        try await Task.sleep(for: .milliseconds(100))
        fetch.release()
        #expect(try await first.value == "value 2")
        await #expect(throws: Failure.self) { try await failing.value }
        await #expect(throws: Failure.self, "a lookup in the failed batch hears its error") { try await sharing.value }
        #expect(try await batcher.load(6) == "value 6", "a later lookup is a new batch")
    }
}
