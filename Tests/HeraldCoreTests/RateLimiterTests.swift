import Foundation
import Testing

@testable import HeraldCore

@Suite struct RateLimiterTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func admitsUpToTheLimitPerKeyAndWindow() {
        var limiter = RateLimiter<String>(limit: 3, window: 60)
        func admit(_ key: String, _ second: Double) -> Bool { limiter.admit(key, at: start + second) }
        for second in 0..<3 { #expect(admit("a", Double(second))) }
        #expect(!admit("a", 10))
        #expect(admit("b", 10), "other keys have windows of their own")
        #expect(!admit("a", 59.9))
        #expect(admit("a", 60), "the window opened at the first request")
    }

    @Test func forgetsKeysWhoseWindowClosedWithoutScanningTheTable() {
        var limiter = RateLimiter<String>(limit: 5, window: 60)
        // 300,000 accounts, 1,000 a second: never more than one window's worth is held.
        var mostTracked = 0
        for index in 0..<300_000 {
            _ = limiter.admit("account-\(index)", at: start + Double(index) / 1000)
            mostTracked = max(mostTracked, limiter.trackedKeys)
        }
        #expect(mostTracked <= 60_001)
        let admitted = limiter.admit("late", at: start + 1_000)
        #expect(admitted)
        #expect(limiter.trackedKeys == 1)
    }

    @Test func aWindowReopenedAfterTheClockWentBackIsStillForgotten() {
        var limiter = RateLimiter<String>(limit: 1, window: 60)
        func admit(_ key: String, _ second: Double) -> Bool { limiter.admit(key, at: start + second) }
        #expect(admit("a", 100))
        #expect(admit("b", 0))
        #expect(!admit("b", 30))
        #expect(admit("a", 200))
        #expect(admit("b", 200))
        #expect(admit("c", 400))
        #expect(limiter.trackedKeys == 1)
    }
}
