import Foundation

/// Runs bookkeeping (the push activity written each second) on a thread of its own at a lower CPU
/// priority, so that on a busy machine it takes what the publish path leaves rather than competing with
/// it. With a million registrations pushed at random, a second's activity is thousands of rows on as
/// many pages, 15-45 ms of CPU at once, and at normal priority that burst was what put p99 of a steady
/// 5,000 publishes/s over the 1.1 ms it is with no activity written at all.
///
/// A thread per call (about once a second) rather than a pool: a thread's priority cannot be raised back
/// without privileges, so the lowered one must end with its thread.
enum BookkeepingThread {
    /// Added to the nice value: a weight of about a tenth of a normal thread's when they compete.
    static let niceIncrement: Int32 = 10

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                lowerPriority()
                continuation.resume(with: Result { try body() })
            }
            #if !os(Linux)
            // Elsewhere a thread's quality of service is set before it starts, not by the thread itself.
            thread.qualityOfService = .utility
            #endif
            thread.start()
        }
    }

    /// The calling thread's nice value (on Linux, a thread's own).
    static var currentNice: Int32 {
        #if os(Linux)
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
        return 0
        #endif
    }

    /// A refusal (a system that forbids it) leaves the thread at its priority: the write still happens.
    private static func lowerPriority() {
        #if os(Linux)
        // PRIO_PROCESS with 0 is the calling thread on Linux, not the whole process.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, currentNice + niceIncrement)
        #endif
    }
}
