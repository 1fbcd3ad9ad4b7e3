import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Turns publishes into vendor pushes: authenticates them, picks the push class, coalesces bursts,
/// retries transient failures in the background and removes registrations whose token is dead.
///
/// A `Service`: its `run()` owns the timers for delayed pushes (end-of-burst and retries). Generic over
/// the clock so tests can move time by hand.
public final class PushDispatcher<C: Clock>: Service, Sendable where C.Duration == Duration {
    private struct Delayed: Sendable {
        var push: PushRequest
        var notBefore: C.Instant
        var deadline: C.Instant
        var attempt: Int
        var generation: Int
    }

    private enum CoalescingDecision { case sendNow, coalesced(generation: Int), overloaded }

    private struct State: Sendable {
        var lastSent: [String: C.Instant] = [:]
        var delayed: [String: Delayed] = [:]
        var generation = 0
    }

    private let store: any RegistrationStore
    /// Swapped whole when credentials are reloaded; a push in flight keeps the provider it started with.
    private let providers: Mutex<PushProviders>
    private let contentPolicies: [String: ContentPolicy]
    public let policy: DeliveryPolicy
    private let clock: C
    private let logger: Logger
    private let metrics: HeraldMetrics
    private let state: Mutex<State>
    private let schedule: AsyncStream<(node: String, generation: Int)>.Continuation
    private let scheduled: AsyncStream<(node: String, generation: Int)>

    public init(
        store: any RegistrationStore,
        providers: PushProviders,
        contentPolicies: [String: ContentPolicy] = [:],
        policy: DeliveryPolicy = .init(),
        clock: C,
        logger: Logger,
        metrics: HeraldMetrics = .disabled
    ) {
        self.store = store
        self.providers = Mutex(providers)
        self.metrics = metrics
        self.contentPolicies = contentPolicies
        self.policy = policy
        self.clock = clock
        self.logger = logger
        self.state = Mutex(State())
        (scheduled, schedule) = AsyncStream.makeStream(of: (node: String, generation: Int).self)
    }

    /// Pushes waiting to be retried or sent at the end of a burst.
    public var queuedPushes: Int { state.withLock { $0.delayed.count } }

    /// Replaces every vendor client (credential reload). Pushes already on their way finish with the old ones.
    public func replaceProviders(_ newProviders: PushProviders) {
        providers.withLock { $0 = newProviders }
    }

    private func provider(for registration: Registration) -> (any PushProvider)? {
        providers.withLock { $0[app: registration.app, service: registration.service] }
    }

    // MARK: Publishing

    public func publish(_ publish: Publish) async -> PublishOutcome {
        let start = clock.now
        let outcome = await handle(publish)
        metrics.publishAnswered(outcome, duration: start.duration(to: clock.now))
        return outcome
    }

    /// Sends a test push to one registration now, through its real vendor client, bypassing the
    /// secret (the operator asks, not a publisher) and coalescing. Nil when no such node is registered.
    public func sendTestPush(node: String) async throws -> PushOutcome? {
        guard let registration = try await store.registration(node: node) else { return nil }
        guard let provider = provider(for: registration) else {
            return .credentials(reason: "\(registration.service.rawValue) is not configured for \(registration.app)")
        }
        let publish = Publish(
            node: node,
            publisherDomain: registration.accountDomain ?? "",
            summary: .init(messageCount: 1, lastMessageBody: "Test push from Herald")
        )
        let push = PushRequest(
            registration: registration,
            publish: publish,
            pushClass: .alert,
            content: contentPolicies[registration.app] ?? ContentPolicy()
        )
        let outcome = await send(push, through: provider)
        if case .deadToken(let reason) = outcome {
            await removeIfUnchanged(registration, reason: reason)
        }
        return outcome
    }

    private func send(_ push: PushRequest, through provider: any PushProvider) async -> PushOutcome {
        let start = clock.now
        let outcome = await provider.send(push)
        metrics.vendorRequest(push.registration.service, outcome: outcome, duration: start.duration(to: clock.now))
        return outcome
    }

    private func handle(_ publish: Publish) async -> PublishOutcome {
        let registration: Registration
        do {
            guard let found = try await store.registration(node: publish.node) else { return .unknownNode }
            registration = found
        } catch {
            logger.error("registration lookup failed", metadata: [LogKey.reason: "\(error)"])
            return .failed(reason: "store unavailable")
        }
        guard authorize(publish, registration) else { return .forbidden }
        guard provider(for: registration) != nil else {
            logger.error("no provider for a registration's app and vendor", metadata: [
                "push.app": "\(registration.app)", "push.service": "\(registration.service.rawValue)",
            ])
            return .failed(reason: "\(registration.service.rawValue) is not configured for \(registration.app)")
        }
        let push = PushRequest(
            registration: registration,
            publish: publish,
            pushClass: PushClass.of(publish, registration: registration),
            content: contentPolicies[registration.app] ?? ContentPolicy()
        )

        let now = clock.now
        let decision: CoalescingDecision = state.withLock { state in
            // A newer push replaces a retry still waiting for this node.
            if let waiting = state.delayed[publish.node], waiting.attempt > 0 {
                state.delayed[publish.node] = nil
            }
            if let last = state.lastSent[publish.node], now < last.advanced(by: policy.coalescingWindow) {
                var trailing = push
                if let pending = state.delayed[publish.node] {
                    trailing.pushClass = max(pending.push.pushClass, push.pushClass)
                } else if state.delayed.count >= policy.maximumQueuedPushes {
                    return .overloaded
                }
                state.generation += 1
                state.delayed[publish.node] = Delayed(
                    push: trailing,
                    notBefore: last.advanced(by: policy.coalescingWindow),
                    deadline: now.advanced(by: policy.retryDeadline),
                    attempt: 0,
                    generation: state.generation
                )
                return .coalesced(generation: state.generation)
            }
            state.lastSent[publish.node] = now
            if state.lastSent.count > 4 * policy.maximumQueuedPushes {
                let horizon = now.advanced(by: .zero - policy.coalescingWindow)
                state.lastSent = state.lastSent.filter { $0.value > horizon }
            }
            return .sendNow
        }
        switch decision {
        case .overloaded:
            return .overloaded
        case .coalesced(let generation):
            schedule.yield((publish.node, generation))
            return .coalesced
        case .sendNow:
            return await deliver(push, attempt: 1, deadline: now.advanced(by: policy.retryDeadline))
        }
    }

    /// The secret, where the registration has one, and the publishing domain, where it recorded one.
    /// Without a secret (Tigase's dialect), only the server itself may publish: any of its users could
    /// otherwise send a publish from their own JID, which carries the same domain.
    private func authorize(_ publish: Publish, _ registration: Registration) -> Bool {
        if let expected = registration.secret {
            guard let given = publish.secret, constantTimeEquals(given, expected) else { return false }
        } else if !publish.publisherIsServer {
            return false
        }
        // Both sides come from parsed JIDs, whose domains are already lowercase.
        if let domain = registration.accountDomain, domain != publish.publisherDomain {
            return false
        }
        // A registration without a secret is guarded by its domain alone; without either it is open to
        // nobody.
        return registration.secret != nil || registration.accountDomain != nil
    }

    private func deliver(_ push: PushRequest, attempt: Int, deadline: C.Instant) async -> PublishOutcome {
        guard let provider = provider(for: push.registration) else {
            return .failed(reason: "no provider")
        }
        let outcome = await send(push, through: provider)
        switch outcome {
        case .delivered(_, let environment?):
            await remember(environment, for: push.registration)
            return .delivered
        case .delivered:
            return .delivered
        case .deadToken(let reason) where push.pushClass == .voip:
            // PushKit's token died, not the device's: its alert pushes go on, and so does this one.
            var fallback = push
            fallback.registration = await clearVoIPTokenIfUnchanged(push.registration, reason: reason)
            fallback.pushClass = PushClass.of(push.publish, registration: fallback.registration)
            return await deliver(fallback, attempt: attempt, deadline: deadline)
        case .deadToken(let reason):
            await removeIfUnchanged(push.registration, reason: reason)
            return .tokenRemoved(reason: reason)
        case .retry(let reason, let retryAfter):
            guard attempt < policy.maximumAttempts else {
                logger.warning("push dropped after retries", metadata: [LogKey.reason: "\(reason)", LogKey.attempt: "\(attempt)"])
                return .retrying(reason: reason)
            }
            let backoff = policy.retryBackoff.delay(attempt: attempt - 1)
            let delay = max(backoff, retryAfter ?? .zero)
            let notBefore = clock.now.advanced(by: delay)
            guard notBefore < deadline else { return .retrying(reason: reason) }
            let generation: Int? = state.withLock { state in
                if let waiting = state.delayed[push.publish.node], waiting.attempt == 0 {
                    // An end-of-burst push is already due for this node; it carries newer news.
                    return nil
                }
                guard state.delayed.count < policy.maximumQueuedPushes || state.delayed[push.publish.node] != nil else { return nil }
                state.generation += 1
                state.delayed[push.publish.node] = Delayed(
                    push: push, notBefore: notBefore, deadline: deadline, attempt: attempt, generation: state.generation
                )
                return state.generation
            }
            if let generation { schedule.yield((push.publish.node, generation)) }
            return .retrying(reason: reason)
        case .unconfirmed(let reason):
            logger.warning("vendor gave no verdict on a push; not sending it again", metadata: [
                "push.service": "\(push.registration.service.rawValue)", LogKey.reason: "\(reason)",
            ])
            return .unconfirmed(reason: reason)
        case .credentials(let reason):
            logger.error("vendor refused our credentials: check the app's keys", metadata: [
                "push.service": "\(push.registration.service.rawValue)", "push.app": "\(push.registration.app)", LogKey.reason: "\(reason)",
            ])
            return .failed(reason: reason)
        case .rejected(let reason):
            logger.error("vendor rejected a push request", metadata: [
                "push.service": "\(push.registration.service.rawValue)", LogKey.reason: "\(reason)",
            ])
            return .failed(reason: reason)
        }
    }

    /// Removes a registration whose token died, unless the device re-registered a new token meanwhile.
    private func removeIfUnchanged(_ registration: Registration, reason: String) async {
        do {
            guard let current = try await store.registration(node: registration.node), current.token == registration.token else { return }
            try await store.delete(node: registration.node)
            metrics.tokenRemoved(registration.service)
            logger.info("registration removed: token is dead", metadata: [
                "push.node": "\(Redaction.fingerprint(registration.node))", LogKey.reason: "\(reason)",
            ])
        } catch {
            logger.error("could not remove dead registration", metadata: [LogKey.reason: "\(error)"])
        }
    }

    /// Keeps the APNs environment that accepted the device's token, unless the device re-registered meanwhile.
    private func remember(_ environment: APNsEnvironment, for registration: Registration) async {
        do {
            guard var current = try await store.registration(node: registration.node), current.token == registration.token else { return }
            current.environment = environment
            try await store.save(current)
            logger.info("apns environment of a registration corrected", metadata: [
                "push.node": "\(Redaction.fingerprint(registration.node))", "apns.environment": "\(environment.rawValue)",
            ])
        } catch {
            logger.error("could not correct a registration's apns environment", metadata: [LogKey.reason: "\(error)"])
        }
    }

    /// Forgets a registration's VoIP token that died, unless the device registered a new one meanwhile;
    /// returns the registration without it.
    private func clearVoIPTokenIfUnchanged(_ registration: Registration, reason: String) async -> Registration {
        var cleared = registration
        cleared.voipToken = nil
        do {
            guard var current = try await store.registration(node: registration.node), current.voipToken == registration.voipToken else {
                return cleared
            }
            current.voipToken = nil
            try await store.save(current)
            metrics.tokenRemoved(registration.service)
            logger.info("voip token removed: it is dead", metadata: [
                "push.node": "\(Redaction.fingerprint(registration.node))", LogKey.reason: "\(reason)",
            ])
            return current
        } catch {
            logger.error("could not remove dead voip token", metadata: [LogKey.reason: "\(error)"])
            return cleared
        }
    }

    // MARK: Delayed pushes

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await (node, generation) in scheduled.cancelOnGracefulShutdown() {
                group.addTask { await self.fire(node: node, generation: generation, early: false) }
            }
            // Shutting down: send what is waiting now rather than lose it.
            let waiting = state.withLock { $0.delayed.map { ($0.key, $0.value.generation) } }
            for (node, generation) in waiting {
                group.addTask { await self.fire(node: node, generation: generation, early: true) }
            }
        }
    }

    private func fire(node: String, generation: Int, early: Bool) async {
        if !early {
            guard let notBefore = state.withLock({ $0.delayed[node]?.generation == generation ? $0.delayed[node]?.notBefore : nil }) else { return }
            try? await clock.sleep(until: notBefore, tolerance: nil)
        }
        let now = clock.now
        let item: Delayed? = state.withLock { state in
            guard let item = state.delayed[node], item.generation == generation else { return nil }
            state.delayed[node] = nil
            if item.attempt == 0 { state.lastSent[node] = now }
            return item
        }
        // The deadline was checked when the push was scheduled; a timer that fires late still sends.
        guard let item else { return }
        _ = await deliver(item.push, attempt: item.attempt + 1, deadline: item.deadline)
    }
}
