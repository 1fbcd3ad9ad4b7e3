import Testing

@testable import HeraldSupport

private struct FixedRandom: RandomNumberGenerator {
    let value: UInt64
    mutating func next() -> UInt64 { value }
}

@Suite struct BackoffTests {
    private let backoff = Backoff(initialDelay: .seconds(1), maximumDelay: .seconds(30), multiplier: 2)

    @Test func stepsGrowExponentiallyUpToTheCap() {
        let steps = (0..<8).map { backoff.step(attempt: $0) }
        #expect(steps == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)])
    }

    @Test func jitterStaysBetweenHalfAndAllOfTheStep() {
        var low = FixedRandom(value: 0)
        var high = FixedRandom(value: .max)
        #expect(backoff.delay(attempt: 3, using: &low) == .seconds(4))
        #expect(backoff.delay(attempt: 3, using: &high) == .seconds(8))
    }

    @Test func delaysAreSpreadOut() {
        let delays = Set((0..<50).map { _ in backoff.delay(attempt: 4) })
        #expect(delays.count > 40, "jitter must keep reconnecting instances apart")
        #expect(delays.allSatisfy { $0 >= .seconds(8) && $0 <= .seconds(16) })
    }

    @Test func hugeAttemptCountsDoNotOverflow() {
        #expect(backoff.step(attempt: 10_000) == .seconds(30))
    }
}
