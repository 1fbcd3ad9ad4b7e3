import Foundation
import Testing

@testable import HeraldSQLite

@Suite(.timeLimit(.minutes(1))) struct BookkeepingThreadTests {
    private struct Refused: Error, Equatable {}

    @Test func theBodyRunsOnAThreadOfItsOwnAtALowerPriorityAndTheCallerKeepsItsOwn() async throws {
        let caller = BookkeepingThread.currentNice
        let callerThread = pthread_self()
        let (nice, bodyThread) = try await BookkeepingThread.run { (BookkeepingThread.currentNice, pthread_self()) }
        #expect(pthread_equal(bodyThread, callerThread) == 0, "not the caller's thread")
        #if os(Linux)
        // The nice value stops at 19.
        #expect(nice == min(caller + BookkeepingThread.niceIncrement, 19))
        #expect(nice > caller || caller == 19)
        #else
        _ = nice
        #endif
        #expect(BookkeepingThread.currentNice == caller)
        // A second call starts from a normal thread again: the lowered priority ended with its thread.
        let again = try await BookkeepingThread.run { BookkeepingThread.currentNice }
        #expect(again == nice)
    }

    @Test func anErrorReachesTheCaller() async throws {
        await #expect(throws: Refused.self) {
            try await BookkeepingThread.run { throw Refused() }
        }
    }
}
