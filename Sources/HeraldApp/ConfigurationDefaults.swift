import Synchronization

/// The default of every configuration key, as the code that reads the key defines it.
///
/// Defaults are written once, where each key is read; this collects them while a configuration loads,
/// so a test can hold README.md's table of keys to the code instead of to a second copy.
public final class ConfigurationDefaults: Sendable {
    @TaskLocal static var current: ConfigurationDefaults?

    private let seen = Mutex<[String: String]>([:])

    public init() {}

    /// Key (list indexes written `[]`, as README.md does) → default, in the configuration's own notation.
    public var values: [String: String] { seen.withLock { $0 } }

    /// Runs `body` (which loads a configuration) and records every default it reads.
    public func collect<T>(_ body: () throws -> T) rethrows -> T {
        try Self.$current.withValue(self, operation: body)
    }

    static func record(_ key: String, _ value: String) {
        guard let current else { return }
        let listKey = key.replacing(/\[\d+\]/, with: "[]")
        current.seen.withLock { $0[listKey] = value }
    }

    /// A duration as an operator writes it: `500ms`, `10s`, `5m`, `24h`.
    static func text(of duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if duration == .zero { return "0s" }
        if attoseconds != 0 { return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
