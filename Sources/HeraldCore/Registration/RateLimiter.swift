import Foundation

/// At most `limit` requests per key in a window of `window` that opens with the key's first request.
///
/// Each request costs O(1) amortized, however many keys there are: windows expire in the order they
/// opened, so forgetting idle keys pops from the front of a queue instead of scanning the table. Memory
/// is bounded by the keys seen within one window: a small key (a 64-bit hash rather than a string) keeps
/// a busy window to tens of bytes per key.
public struct RateLimiter<Key: Hashable & Sendable>: Sendable {
    public let limit: Int
    public let window: TimeInterval

    private struct Window: Sendable {
        var opened: Date
        var requests: Int
    }

    private var windows: [Key: Window] = [:]
    /// Keys in the order their windows opened; an entry whose window has since reopened is skipped.
    private var openings: [(key: Key, opened: Date)] = []
    private var firstOpening = 0

    public init(limit: Int, window: TimeInterval) {
        self.limit = limit
        self.window = window
    }

    /// Keys with an open window: what the limiter holds in memory.
    public var trackedKeys: Int { windows.count }

    /// Counts a request for `key` at `now`; false if the key has used up its window.
    public mutating func admit(_ key: Key, at now: Date) -> Bool {
        forgetWindows(closedBy: now)
        if var current = windows[key], now.timeIntervalSince(current.opened) < window {
            guard current.requests < limit else { return false }
            current.requests += 1
            windows[key] = current
            return true
        }
        // A new window, or one that closed but was not forgotten yet (the clock went back).
        windows[key] = Window(opened: now, requests: 1)
        openings.append((key, now))
        return limit > 0
    }

    private mutating func forgetWindows(closedBy now: Date) {
        while firstOpening < openings.count, now.timeIntervalSince(openings[firstOpening].opened) >= window {
            let (key, opened) = openings[firstOpening]
            firstOpening += 1
            if windows[key]?.opened == opened { windows[key] = nil }
        }
        // Compact once the consumed front is both large and most of the queue.
        if firstOpening > 1024, firstOpening * 2 > openings.count {
            openings.removeFirst(firstOpening)
            firstOpening = 0
        }
    }
}
