/// Exponential backoff with jitter, capped, for reconnects and vendor retries.
///
/// Uses "equal jitter": each delay is half the exponential step plus a random share of the other half,
/// so retries never fire in lockstep yet never collapse to zero.
public struct Backoff: Sendable, Hashable {
    public var initialDelay: Duration
    public var maximumDelay: Duration
    public var multiplier: Double

    public init(initialDelay: Duration = .seconds(1), maximumDelay: Duration = .seconds(60), multiplier: Double = 2) {
        precondition(initialDelay > .zero && maximumDelay >= initialDelay && multiplier >= 1)
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
    }

    /// The un-jittered step for the `attempt`-th retry (attempt 0 is the first retry).
    public func step(attempt: Int) -> Duration {
        let initial = initialDelay.seconds
        let maximum = maximumDelay.seconds
        // Cap the exponent so the power cannot overflow for very long outages.
        let exponent = Double(min(attempt, 62))
        return .seconds(min(maximum, initial * Swift.max(1, pow(multiplier, exponent))))
    }

    /// The delay before the `attempt`-th retry, jittered with `generator`.
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let step = step(attempt: attempt).seconds
        // The top 53 bits give a fraction in [0, 1] with no rejection loop, whatever the generator.
        let jitter = Double(generator.next() >> 11) / Double((1 as UInt64) << 53 - 1)
        return .seconds(step / 2 + step / 2 * jitter)
    }

    public func delay(attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var remaining = Int(exponent)
    while remaining > 0 {
        result *= base
        remaining -= 1
    }
    return result
}
