public import Foundation

/// Herald's one notion of time: a `Clock` for waiting and measuring that can also say which wall time
/// an instant stands for, for what gets written down (JWT `iat` and `exp`, HTTP dates, stored retry times).
///
/// Everything that reads time or sleeps takes one; tests pass a manual clock and move it by hand.
public protocol ServerClock: Clock where Duration == Swift.Duration {
    /// The wall time `instant` stands for.
    func wallTime(at instant: Instant) -> Date
    /// The wall time now.
    var wallTime: Date { get }
}

extension ServerClock {
    public var wallTime: Date { wallTime(at: now) }
}

/// The system's clock: continuous (monotonic) for waiting and measuring, so that a step of the system
/// time neither stretches nor cuts a timer; wall time is read from the system when asked.
public struct SystemClock: ServerClock {
    public typealias Instant = ContinuousClock.Instant

    public init() {}

    public var now: Instant { ContinuousClock.now }
    public var minimumResolution: Duration { ContinuousClock().minimumResolution }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try await ContinuousClock().sleep(until: deadline, tolerance: tolerance)
    }

    public func wallTime(at instant: Instant) -> Date {
        Date().addingTimeInterval(ContinuousClock.now.duration(to: instant).seconds)
    }

    /// One read of the system time, where `wallTime(at: now)` takes three: a push asks several times.
    public var wallTime: Date { Date() }
}
