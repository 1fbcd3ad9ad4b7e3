import Testing

@testable import HeraldSupport

@Suite struct DurationNumbersTests {
    @Test func convertsWithoutLosingSubSecondParts() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.nanoseconds(1_234_567_891).nanoseconds == 1_234_567_891)
        #expect(Duration.seconds(-2).nanoseconds == -2_000_000_000)
    }
}
