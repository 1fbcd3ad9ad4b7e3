/// How long a component waits before its next connection attempt.
///
/// The library only asks for a delay; the application decides the policy (growing backoff with jitter for
/// a primary, a short fixed interval for a standby).
public protocol ReconnectSchedule: Sendable {
    /// The wait before the `attempt`-th reconnect (0 is the first after a connection ends or fails).
    func delay(attempt: Int) -> Duration
}

/// The same wait before every attempt.
public struct FixedReconnectDelay: ReconnectSchedule, Hashable {
    public var interval: Duration

    public init(_ interval: Duration) {
        precondition(interval > .zero)
        self.interval = interval
    }

    public func delay(attempt: Int) -> Duration { interval }
}
