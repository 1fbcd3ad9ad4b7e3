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

    /// Through the protocol, as the vendor clients read it: the system clock's own `wallTime`, and for a
    /// clock that does not give one, the wall time of its `now`.
    @Test func wallTimeThroughTheProtocolIsTheWallTimeOfNow() {
        #expect(abs(Self.wallTime(of: SystemClock()).timeIntervalSinceNow) < 1)
        let fixed = FixedClock()
        #expect(Self.wallTime(of: fixed) == fixed.wallTime(at: fixed.now))
        #expect(Self.wallTime(of: fixed) == Date(timeIntervalSince1970: 1_000_042))
    }

    private static func wallTime(of clock: any ServerClock) -> Date { clock.wallTime }

    @Test func theSystemClockSleepsUntilItsDeadline() async throws {
        let clock = SystemClock()
        let start = clock.now
        try await clock.sleep(for: .milliseconds(20))
        #expect(start.duration(to: clock.now) >= .milliseconds(20))
    }
}

/// A clock stopped at 42 s past its epoch, which is wall time 1,000,000.
private struct FixedClock: ServerClock {
    var now: ContinuousClock.Instant { epoch.advanced(by: .seconds(42)) }
    var minimumResolution: Duration { .nanoseconds(1) }
    private let epoch = ContinuousClock.now

    func sleep(until deadline: ContinuousClock.Instant, tolerance: Duration?) async throws {}

    func wallTime(at instant: ContinuousClock.Instant) -> Date {
        Date(timeIntervalSince1970: 1_000_000 + epoch.duration(to: instant).seconds)
    }
}
