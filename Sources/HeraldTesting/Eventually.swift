/// Polls `condition` until it holds or `timeout` passes; returns whether it held. Bounded in time.
///
/// The default is long: it returns as soon as the condition holds, so the bound costs nothing where
/// the test passes, and a two-core machine starting the whole suite at once has stalled tasks for
/// more than ten seconds.
public func eventually(
    timeout: Duration = .seconds(30),
    every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Runs `body` while `run` executes in a child task, then cancels it.
public func whileRunning<T>(
    _ run: @escaping @Sendable () async throws -> Void,
    _ body: () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await run() }
        defer { group.cancelAll() }
        return try await body()
    }
}
