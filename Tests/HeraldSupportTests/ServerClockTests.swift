import Foundation
import Testing

@testable import HeraldSupport

@Suite struct ServerClockTests {
    @Test func theSystemClocksWallTimeIsTheSystemTime() {
        let clock = SystemClock()
        #expect(abs(clock.wallTime.timeIntervalSinceNow) < 1)
        let inAMinute = clock.now.advanced(by: .seconds(60))
        #expect(abs(clock.wallTime(at: inAMinute).timeIntervalSinceNow - 60) < 1)
        let aMinuteAgo = clock.now.advanced(by: .seconds(-60))
        #expect(abs(clock.wallTime(at: aMinuteAgo).timeIntervalSinceNow + 60) < 1)
    }

    @Test func theSystemClockSleepsUntilItsDeadline() async throws {
        let clock = SystemClock()
        let start = clock.now
        try await clock.sleep(for: .milliseconds(20))
        #expect(start.duration(to: clock.now) >= .milliseconds(20))
    }
}
