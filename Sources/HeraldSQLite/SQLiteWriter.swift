import Foundation
import GRDB
import Synchronization

/// Group commit for the store's writes: writes that arrive while a transaction is committing wait and
/// go into the next one together, each in a savepoint of its own.
///
/// With `synchronous = FULL` every commit waits for the disk (about 5,000 commits/s on this kind of
/// machine), so a commit per registration would cap registrations there. One commit per batch keeps
/// every answered write durable and lets throughput grow with concurrency instead.
final class SQLiteWriter: Sendable {
    private let pool: DatabasePool
    private let queue = DispatchQueue(label: "herald.sqlite.writer")
    private let state = Mutex<(jobs: [Job], draining: Bool)>(([], false))
    private let commits = Atomic<Int>(0)
    /// Writes per transaction at most, so that one batch cannot hold the others back for long.
    private let maximumBatch: Int

    private struct Job: Sendable {
        /// Runs the write in its own savepoint, keeping its outcome for `finish`.
        let run: @Sendable (Database) -> Void
        /// Reports the outcome once the transaction committed, or the commit's error.
        let finish: @Sendable ((any Error)?) -> Void
    }

    /// Transactions committed so far (each holding one batch).
    var transactionsCommitted: Int { commits.load(ordering: .relaxed) }

    init(pool: DatabasePool, maximumBatch: Int = 512) {
        self.pool = pool
        self.maximumBatch = maximumBatch
    }

    /// Runs `body` in the next transaction and returns its result once that transaction committed.
    /// An error thrown by `body` undoes its changes only; the batch's other writes still commit.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = OutcomeBox<T>()
            let job = Job(
                run: { db in
                    do {
                        // SAVEPOINT by prepared statement: GRDB's inSavepoint compiles it anew each time.
                        try db.cachedStatement(sql: "SAVEPOINT herald_write").execute()
                        do {
                            let value = try body(db)
                            try db.cachedStatement(sql: "RELEASE SAVEPOINT herald_write").execute()
                            outcome.set(.success(value))
                        } catch {
                            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT herald_write").execute()
                            try db.cachedStatement(sql: "RELEASE SAVEPOINT herald_write").execute()
                            outcome.set(.failure(error))
                        }
                    } catch {
                        outcome.set(.failure(error))
                    }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.take() ?? .failure(DatabaseError(message: "write did not run")))
                    }
                }
            )
            enqueue(job)
        }
    }

    private func enqueue(_ job: Job) {
        let startDraining = state.withLock { state in
            state.jobs.append(job)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDraining { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [Job] in
                let batch = Array(state.jobs.prefix(maximumBatch))
                state.jobs.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try commit(batch)
                commits.add(1, ordering: .relaxed)
                for job in batch { job.finish(nil) }
            } catch {
                for job in batch { job.finish(error) }
            }
        }
    }

    /// A synchronous context, so that GRDB's blocking write is chosen over its async overload.
    private func commit(_ batch: [Job]) throws {
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                for job in batch { job.run(db) }
                return .commit
            }
        }
    }
}

/// A write's outcome, handed from the writer's queue to the continuation that reports it.
private final class OutcomeBox<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }
    func take() -> Result<T, any Error>? { value.withLock { $0 } }
}
