import Foundation
import HeraldSupport
import Logging
import ServiceLifecycle
import Synchronization

/// Turns publishes into vendor pushes: authenticates them, runs them through `DeliveryStateMachine`
/// (bursts, retries, the replies each publish gets) and does what it decides: vendor requests, stored
/// pending pushes, replies. It also removes registrations whose token is dead.
///
/// A `Service`: its `run()` resumes the pending pushes found in the store and owns the timers for
/// delayed pushes. Generic over the clock so tests can move time by hand; pending pushes are stored
/// with the clock's wall times.
public final class PushDispatcher<C: ServerClock>: Service, Sendable {
    private typealias Machine = DeliveryStateMachine<C.Instant>

    /// Where a publish's reply stands: decided before anyone waits for it, awaited, or (the fast
    /// path) handed to a callback.
    private enum ReplySlot {
        case open
        case answered(PublishOutcome)
        case awaited(CheckedContinuation<PublishOutcome, Never>)
        case callback(FastReply)
    }

    /// A fast-path publish's answer: where it goes, and what its metrics need. Kept in the reply's slot
    /// as it is, where two closures wrapped the callback for every publish.
    private struct FastReply: Sendable {
        let reply: @Sendable (PublishOutcome) -> Void
        let app: String?
        let start: C.Instant
    }

    /// What the dispatcher's own tasks (in `run()`) do: timers, and the fast path's slow parts.
    private enum Event: Sendable {
        case wake(node: String, at: C.Instant)
        /// Work the fast path hands off: store reads and writes, and providers without callbacks.
        case work(@Sendable () async -> Void)
    }

    private struct State {
        var machine: Machine
        var replies: [Machine.ReplyID: ReplySlot] = [:]
        var nextReply = 0
    }

    private let store: any RegistrationStore
    /// Swapped whole when credentials are reloaded; a push in flight keeps the provider it started with.
    private let providers: Mutex<PushProviders>
    private let contentPolicies: [String: ContentPolicy]
    /// Apps that take publishes to nodes never registered (Monal's fpush-style enable).
    private let stateless: StatelessApps
    public let policy: DeliveryPolicy
    private let clock: C
    private let logger: Logger
    private let metrics: HeraldMetrics
    private let state: Mutex<State>
    /// Each node's latest push outcome since the last flush to the store.
    private let activity = Mutex<[String: RegistrationActivity]>([:])
    private let activityFlushInterval: Duration?
    /// This instance's name on the pending pushes it holds in a shared store, and how long it holds
    /// them unless it renews (which it does every third of it).
    private let instance: String
    private let pendingLease: Duration
    private let events: AsyncStream<Event>.Continuation
    private let eventStream: AsyncStream<Event>

    public init(
        store: any RegistrationStore,
        providers: PushProviders,
        contentPolicies: [String: ContentPolicy] = [:],
        stateless: StatelessApps = .none,
        policy: DeliveryPolicy = .init(),
        clock: C,
        // Every second: with a million registrations pushed at random a 5 s batch (25,000 rows at 5,000/s)
        // held the cores long enough to put p99 at 0.33-0.44 s; batches of a second put it at 0.20-0.23 s.
        activityFlushInterval: Duration? = .seconds(1),
        instance: String = "local",
        logger: Logger,
        metrics: HeraldMetrics = .disabled
    ) {
        self.activityFlushInterval = activityFlushInterval
        self.instance = instance
        self.pendingLease = policy.pendingLease
        self.store = store
        self.providers = Mutex(providers)
        self.metrics = metrics
        self.contentPolicies = contentPolicies
        self.stateless = stateless
        self.policy = policy
        self.clock = clock
        self.logger = logger
        self.state = Mutex(State(machine: Machine(policy: policy)))
        (eventStream, events) = AsyncStream.makeStream(of: Event.self)
    }

    /// Pushes waiting to be retried or sent at the end of a burst.
    public var queuedPushes: Int { state.withLock { $0.machine.queuedPushes } }
    /// Publishes waiting for the verdict on the push at the end of their burst.
    public var heldReplies: Int { state.withLock { $0.machine.heldReplies } }

    /// Replaces every vendor client (credential reload). Pushes already on their way finish with the old ones.
    public func replaceProviders(_ newProviders: PushProviders) {
        providers.withLock { $0 = newProviders }
    }

    private func provider(for registration: Registration) -> (any PushProvider)? {
        providers.withLock { $0[app: registration.app, service: registration.service] }
    }

    private func callbackProvider(for registration: Registration) -> (any CallbackPushProvider)? {
        providers.withLock { $0.callbackProvider(app: registration.app, service: registration.service) }
    }

    private func hasProvider(for registration: Registration) -> Bool {
        providers.withLock { $0.contains(app: registration.app, service: registration.service) }
    }

    // MARK: Publishing

    public func publish(_ publish: Publish) async -> PublishOutcome {
        let start = clock.now
        let (outcome, app) = await handle(publish)
        metrics.publishAnswered(outcome, app: app, duration: start.duration(to: clock.now))
        return outcome
    }

    /// `publish(_:)` without a task, for the component's fast path: when the registration is at hand
    /// (the store's cache, or an embedded store's read) and the vendor client takes a callback, the
    /// publish goes to the vendor on the calling thread and `reply` is called from the thread its answer
    /// arrives on. Anything that needs to wait (a lookup, a refusal to confirm with the store, a store
    /// write) continues in the dispatcher's own tasks, which `run()` keeps. `reply` is called once.
    // The component calls this through a protocol, so the optimizer never saw it with a concrete clock:
    // every publish ran the unspecialized dispatcher and state machine, looking up generic metadata as
    // it went. A specialization for the system clock, chosen at run time, cut Herald's CPU per publish
    // by 10–18% (herald-bench path, window 1000 and steady 5,000/s, alternating builds).
    @_specialize(where C == SystemClock)
    public func publish(_ publish: Publish, reply: @escaping @Sendable (PublishOutcome) -> Void) {
        let start = clock.now
        // A local function, not a closure made for every publish: only the slow paths capture it.
        @Sendable func finish(_ outcome: PublishOutcome, _ app: String?) {
            deliver(outcome, to: FastReply(reply: reply, app: app, start: start))
        }
        var registration: Registration
        var spacing = Duration.zero
        switch store.registrationForDeliveryNow(node: publish.node) {
        case .found(let found):
            registration = found
        case .absent:
            guard let resolved = stateless.registration(for: publish, now: clock.wallTime) else { return finish(.unknownNode, nil) }
            registration = resolved.registration
            spacing = resolved.minimumInterval
        case .unknown:
            return later {
                let (outcome, app) = await self.handle(publish)
                finish(outcome, app)
            }
        }
        guard authorize(publish, registration) else {
            guard registration.dialect == .stateless else {
                // Refusing makes the server drop the registration: `handle` asks the store itself.
                return later {
                    let (outcome, app) = await self.handle(publish)
                    finish(outcome, app)
                }
            }
            return finish(.forbidden, registration.app)
        }
        guard hasProvider(for: registration) else {
            logger.error("no provider for a registration's app and vendor", metadata: [
                LogKey.app: "\(registration.app)", LogKey.vendor: "\(registration.service.rawValue)",
            ])
            return finish(.failed(reason: "\(registration.service.rawValue) is not configured for \(registration.app)"), registration.app)
        }
        let pushClass = PushClass.of(publish, registration: registration)
        let app = registration.app
        let actions = state.withLock { state in
            state.nextReply &+= 1
            state.replies[state.nextReply] = .callback(FastReply(reply: reply, app: app, start: start))
            return state.machine.publish(
                publish, pushClass: pushClass, registration: registration, reply: state.nextReply, now: clock.now, spacing: spacing
            )
        }
        performNow(actions)
    }

    /// Hands `work` to the dispatcher's own tasks.
    private func later(_ work: @escaping @Sendable () async -> Void) {
        events.yield(.work(work))
    }

    /// Sends a test push to one registration now, through its real vendor client, bypassing the
    /// secret (the operator asks, not a publisher) and coalescing. Nil when no such node is registered.
    public func sendTestPush(node: String) async throws -> PushOutcome? {
        guard let registration = try await store.registration(node: node) else { return nil }
        guard let provider = provider(for: registration) else {
            return .credentials(reason: .unknown("\(registration.service.rawValue) is not configured for \(registration.app)"))
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
            await removeIfUnchanged(registration, reason: reason.description)
        }
        return outcome
    }

    private func send(_ push: PushRequest, through provider: any PushProvider) async -> PushOutcome {
        let start = clock.now
        let outcome = await provider.send(push)
        metrics.vendorRequest(push.registration.service, app: push.registration.app, outcome: outcome, duration: start.duration(to: clock.now))
        return outcome
    }

    private func handle(_ publish: Publish) async -> (PublishOutcome, app: String?) {
        var registration: Registration
        var spacing = Duration.zero
        do {
            // A miss is never cached, so `unknownNode` always comes from the store itself.
            if let found = try await store.registrationForDelivery(node: publish.node) {
                registration = found
            } else if let resolved = stateless.registration(for: publish, now: clock.wallTime) {
                registration = resolved.registration
                spacing = resolved.minimumInterval
            } else {
                return (.unknownNode, nil)
            }
            if !authorize(publish, registration), registration.dialect != .stateless {
                // Refusing tells the server to drop the registration: decide it on the store's own
                // copy, in case a re-registration's new secret has not reached a cache yet.
                guard let current = try await store.registration(node: publish.node) else { return (.unknownNode, nil) }
                registration = current
            }
        } catch {
            logger.error("registration lookup failed", metadata: [LogKey.reason: "\(error)"])
            return (.failed(reason: "store unavailable"), nil)
        }
        guard authorize(publish, registration) else { return (.forbidden, registration.app) }
        guard hasProvider(for: registration) else {
            logger.error("no provider for a registration's app and vendor", metadata: [
                LogKey.app: "\(registration.app)", LogKey.vendor: "\(registration.service.rawValue)",
            ])
            return (.failed(reason: "\(registration.service.rawValue) is not configured for \(registration.app)"), registration.app)
        }
        let pushClass = PushClass.of(publish, registration: registration)
        let (reply, actions) = state.withLock { state in
            state.nextReply &+= 1
            state.replies[state.nextReply] = .open
            let actions = state.machine.publish(
                publish, pushClass: pushClass, registration: registration, reply: state.nextReply, now: clock.now, spacing: spacing
            )
            return (state.nextReply, actions)
        }
        await perform(actions)
        return (await outcome(of: reply), registration.app)
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

    // MARK: Replies

    /// The reply decided for `reply`, waiting for it if the push it rides on has not had its verdict.
    private func outcome(of reply: Machine.ReplyID) async -> PublishOutcome {
        // Usually decided by now (the push went and came back): no continuation, no second scheduling.
        let decided: PublishOutcome? = state.withLock { state in
            guard case .answered(let outcome) = state.replies[reply] else { return nil }
            state.replies[reply] = nil
            return outcome
        }
        if let decided { return decided }
        return await withCheckedContinuation { continuation in
            let decided: PublishOutcome? = state.withLock { state in
                if case .answered(let outcome) = state.replies[reply] {
                    state.replies[reply] = nil
                    return outcome
                }
                state.replies[reply] = .awaited(continuation)
                return nil
            }
            if let decided { continuation.resume(returning: decided) }
        }
    }

    private func answer(_ replies: [Machine.ReplyID], _ outcome: PublishOutcome) {
        // Most pushes answer one publish: no arrays for it.
        guard replies.count > 1 else {
            guard let reply = replies.first else { return }
            if let waiter = state.withLock({ Self.take(reply, answering: outcome, from: &$0) }) { deliver(outcome, to: waiter) }
            return
        }
        let waiters = state.withLock { state in replies.compactMap { Self.take($0, answering: outcome, from: &state) } }
        for waiter in waiters { deliver(outcome, to: waiter) }
    }

    /// Whoever waits for a publish's answer: a task or a callback.
    private enum Waiter {
        case continuation(CheckedContinuation<PublishOutcome, Never>)
        case callback(FastReply)
    }

    private func deliver(_ outcome: PublishOutcome, to waiter: Waiter) {
        switch waiter {
        case .continuation(let continuation): continuation.resume(returning: outcome)
        case .callback(let fast): deliver(outcome, to: fast)
        }
    }

    private func deliver(_ outcome: PublishOutcome, to fast: FastReply) {
        metrics.publishAnswered(outcome, app: fast.app, duration: fast.start.duration(to: clock.now))
        fast.reply(outcome)
    }

    /// Takes `reply`'s waiter out of `state`, to be answered outside the lock; a reply nobody waits for
    /// yet keeps `outcome` for whoever comes.
    private static func take(_ reply: Machine.ReplyID, answering outcome: PublishOutcome, from state: inout State) -> Waiter? {
        switch state.replies[reply] {
        case .open:
            state.replies[reply] = .answered(outcome)
            return nil
        case .awaited(let continuation):
            state.replies[reply] = nil
            return .continuation(continuation)
        case .callback(let callback):
            state.replies[reply] = nil
            return .callback(callback)
        case .answered, nil:
            return nil
        }
    }

    // MARK: Doing what the state machine decided

    private func perform(_ actions: [Machine.Action]) async {
        for action in actions {
            switch action {
            case .send(let send):
                let verdict = await execute(send)
                note(verdict, node: send.node, known: send.registration)
                let next = state.withLock { $0.machine.verdict(verdict, send: send.id, node: send.node, now: clock.now) }
                await perform(next)
            case .reply(let replies, let outcome):
                answer(replies, outcome)
            case .store(let pending, let replies, let reason):
                do {
                    // Stored before anyone hears "retrying": the promise survives a crash.
                    try await store.savePending(pendingPush(pending), owner: instance, leaseUntil: leaseEnd)
                    answer(replies, .retrying(reason: reason))
                } catch {
                    logger.error("could not store a pending push", metadata: [LogKey.reason: "\(error)"])
                    let next = state.withLock { $0.machine.storeFailed(node: pending.node) }
                    answer(replies, .notDelivered(reason: "\(reason); queue unavailable"))
                    await perform(next)
                }
            case .forget(let node):
                do {
                    try await store.deletePending(node: node, owner: instance)
                } catch {
                    logger.error("could not remove a pending push", metadata: [LogKey.reason: "\(error)"])
                }
            case .wake(let node, let instant):
                events.yield(.wake(node: node, at: instant))
            }
        }
    }

    /// `perform` without a task: sends and replies happen now; from the first action that writes to the
    /// store on, the rest go, in order, to the dispatcher's own tasks. (A send is always an action list
    /// of its own, so nothing waits behind one.)
    private func performNow(_ actions: [Machine.Action]) {
        for (index, action) in actions.enumerated() {
            switch action {
            case .send(let send):
                sendNow(send)
            case .reply(let replies, let outcome):
                answer(replies, outcome)
            case .wake(let node, let instant):
                events.yield(.wake(node: node, at: instant))
            case .store, .forget:
                let rest = Array(actions[index...])
                return later { await self.perform(rest) }
            }
        }
    }

    /// `execute` without a task, when the provider takes a callback and the registration is at hand.
    private func sendNow(_ send: Machine.Send) {
        guard let registration = send.registration, let provider = callbackProvider(for: registration) else {
            return later { self.concluded(send, await self.execute(send)) }
        }
        let push = pushRequest(send, registration: registration)
        let start = clock.now
        // The one closure a push makes here; the verdict goes on through a method, not a second closure.
        provider.send(push) { outcome in
            self.metrics.vendorRequest(push.registration.service, app: push.registration.app, outcome: outcome, duration: start.duration(to: self.clock.now))
            if let verdict = self.immediateVerdict(for: outcome, of: push) {
                self.concluded(send, verdict)
            } else {
                self.later { self.concluded(send, await self.verdict(for: outcome, of: push, through: provider)) }
            }
        }
    }

    /// The verdict on a push sent from the fast path: noted, and the state machine's next steps taken.
    private func concluded(_ send: Machine.Send, _ verdict: DeliveryVerdict) {
        note(verdict, node: send.node, known: send.registration)
        let next = state.withLock { $0.machine.verdict(verdict, send: send.id, node: send.node, now: clock.now) }
        performNow(next)
    }

    private var leaseEnd: Date { clock.wallTime.addingTimeInterval(pendingLease.seconds) }

    /// A success is not written again while the stored `last_push_at` is this recent and no failure is
    /// stored: each write rewrites a database page, and with a million registrations pushed at random the
    /// activity writes were a fifth of Herald's CPU.
    static var activityPrecision: TimeInterval { 900 }

    /// Keeps a push's outcome for the registration's `last_push_at` and `last_failure`, written in batches.
    /// `known`: the registration as the push had it, whose stored activity may make a success not worth writing.
    private func note(_ verdict: DeliveryVerdict, node: String, known: Registration? = nil) {
        let failure: String?
        switch verdict {
        case .delivered:
            if let known, known.lastFailure == nil, let last = known.lastPushAt, clock.wallTime.timeIntervalSince(last) < Self.activityPrecision {
                // Recent enough; only a failure noted since, not yet written, must not stand.
                activity.withLock { activity in
                    if activity[node]?.lastFailure != nil { activity[node] = RegistrationActivity(lastPushAt: clock.wallTime) }
                }
                return
            }
            failure = nil
        case .retry(let reason, _), .unconfirmed(let reason), .failed(let reason): failure = reason
        case .tokenRemoved, .registrationGone:
            activity.withLock { _ = $0.removeValue(forKey: node) }
            return
        }
        let now = failure == nil ? clock.wallTime : nil
        activity.withLock { activity in
            var entry = activity[node] ?? RegistrationActivity()
            entry.lastPushAt = now ?? entry.lastPushAt
            entry.lastFailure = failure
            activity[node] = entry
        }
    }

    /// Writes what `note` collected. It is bookkeeping: a failure is logged, not retried.
    func flushActivity() async {
        let batch = activity.withLock { activity in
            defer { activity = [:] }
            return activity
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordActivity(batch)
        } catch {
            logger.warning("could not record push activity", metadata: [LogKey.reason: "\(error)"])
        }
    }

    private func pendingPush(_ stored: Machine.Stored) -> PendingPush {
        let now = clock.now
        let wallNow = clock.wallTime
        return PendingPush(
            node: stored.node, publish: stored.publish, pushClass: stored.pushClass, attempt: stored.attempt,
            notBefore: wallNow.addingTimeInterval(now.duration(to: stored.notBefore).seconds),
            deadline: wallNow.addingTimeInterval(now.duration(to: stored.deadline).seconds)
        )
    }

    /// One vendor request for `send`, and what came of it once dead tokens are removed.
    private func execute(_ send: Machine.Send) async -> DeliveryVerdict {
        var registration = send.registration
        if registration == nil {
            // The push waited: the device may have re-registered or gone meanwhile.
            do {
                registration = try await store.registration(node: send.node)
                    ?? stateless.registration(for: send.publish, now: clock.wallTime)?.registration
            } catch {
                return .retry(reason: "store unavailable", retryAfter: nil)
            }
        }
        guard let registration else { return .registrationGone }
        guard let provider = provider(for: registration) else { return .failed(reason: "no provider") }
        return await deliver(pushRequest(send, registration: registration), through: provider)
    }

    /// The request for `send` to `registration`: a call for a device whose PushKit token is gone
    /// meanwhile goes as the publish's ordinary class.
    private func pushRequest(_ send: Machine.Send, registration: Registration) -> PushRequest {
        let pushClass = send.pushClass == .voip && registration.voipToken == nil ? PushClass.of(send.publish, registration: registration) : send.pushClass
        return PushRequest(
            registration: registration, publish: send.publish, pushClass: pushClass,
            content: contentPolicies[registration.app] ?? ContentPolicy()
        )
    }

    private func deliver(_ push: PushRequest, through provider: any PushProvider) async -> DeliveryVerdict {
        let outcome = await self.send(push, through: provider)
        return await verdict(for: outcome, of: push, through: provider)
    }

    /// What came of a push, once what its outcome asks of the store is done: a dead token removed, the
    /// environment that took the token kept, a dead PushKit token cleared and the push sent without it.
    private func verdict(for outcome: PushOutcome, of push: PushRequest, through provider: any PushProvider) async -> DeliveryVerdict {
        switch outcome {
        case .delivered(_, let environment?):
            await remember(environment, for: push.registration)
            return .delivered
        case .deadToken(let reason) where push.pushClass == .voip:
            // PushKit's token died, not the device's: its alert pushes go on, and so does this one.
            var fallback = push
            fallback.registration = await clearVoIPTokenIfUnchanged(push.registration, reason: reason.description)
            fallback.pushClass = PushClass.of(push.publish, registration: fallback.registration)
            return await deliver(fallback, through: provider)
        case .deadToken(let reason):
            await removeIfUnchanged(push.registration, reason: reason.description)
            return .tokenRemoved(reason: reason.description)
        default:
            // Every other outcome needs nothing of the store.
            return immediateVerdict(for: outcome, of: push) ?? .failed(reason: "\(outcome.label)")
        }
    }

    /// The verdict on an outcome that needs nothing of the store; nil for those that do.
    private func immediateVerdict(for outcome: PushOutcome, of push: PushRequest) -> DeliveryVerdict? {
        switch outcome {
        case .delivered(_, nil):
            return .delivered
        case .delivered, .deadToken:
            return nil
        case .retry(let reason, let retryAfter):
            return .retry(reason: reason.description, retryAfter: retryAfter)
        case .unconfirmed(let reason):
            logger.warning("vendor gave no verdict on a push; not sending it again", metadata: [
                LogKey.vendor: "\(push.registration.service.rawValue)", LogKey.reason: "\(reason)",
            ])
            return .unconfirmed(reason: reason.description)
        case .credentials(let reason):
            logger.error("vendor refused our credentials: check the app's keys", metadata: [
                LogKey.vendor: "\(push.registration.service.rawValue)", LogKey.app: "\(push.registration.app)", LogKey.reason: "\(reason)",
            ])
            return .failed(reason: reason.description)
        case .rejected(let reason):
            logger.error("vendor rejected a push request", metadata: [
                LogKey.vendor: "\(push.registration.service.rawValue)", LogKey.reason: "\(reason)",
            ])
            return .failed(reason: reason.description)
        }
    }

    /// Removes a registration whose token died, unless the device re-registered a new token meanwhile.
    private func removeIfUnchanged(_ registration: Registration, reason: String) async {
        do {
            guard try await store.delete(node: registration.node, ifToken: registration.token) else { return }
            metrics.tokenRemoved(registration.service)
            logger.info("registration removed: token is dead", metadata: [
                LogKey.node: "\(Redaction.fingerprint(registration.node))", LogKey.reason: "\(reason)",
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
                LogKey.node: "\(Redaction.fingerprint(registration.node))", LogKey.apnsEnvironment: "\(environment.rawValue)",
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
                LogKey.node: "\(Redaction.fingerprint(registration.node))", LogKey.reason: "\(reason)",
            ])
            return current
        } catch {
            logger.error("could not remove dead voip token", metadata: [LogKey.reason: "\(error)"])
            return cleared
        }
    }

    // MARK: Delayed pushes

    public func run() async throws {
        // What a previous run under this name held (SQLite's one instance is always "local") is ours
        // again at once rather than when its lease runs out.
        do {
            try await store.releasePendingClaims(owner: instance)
        } catch {
            logger.warning("could not release the pending pushes held", metadata: [LogKey.reason: "\(error)"])
        }
        await claimPendingPushes()
        await withDiscardingTaskGroup { group in
            if let interval = activityFlushInterval {
                group.addTask {
                    while !Task.isCancelled {
                        try? await self.clock.sleep(until: self.clock.now.advanced(by: interval), tolerance: .seconds(1))
                        await self.flushActivity()
                    }
                }
            }
            group.addTask {
                // Alive: keep what this instance holds, and take what a dead instance left.
                while !Task.isCancelled {
                    try? await self.clock.sleep(until: self.clock.now.advanced(by: self.pendingLease / 3), tolerance: .seconds(1))
                    guard !Task.isCancelled else { return }
                    do {
                        try await self.store.renewPendingClaims(owner: self.instance, until: self.leaseEnd)
                    } catch {
                        self.logger.warning("could not renew the pending pushes held", metadata: [LogKey.reason: "\(error)"])
                    }
                    await self.claimPendingPushes()
                }
            }
            for await event in eventStream.cancelOnGracefulShutdown() {
                switch event {
                case .wake(let node, let instant):
                    group.addTask {
                        try? await self.clock.sleep(until: instant, tolerance: nil)
                        guard !Task.isCancelled else { return }
                        let actions = self.state.withLock { $0.machine.wake(node: node, now: self.clock.now) }
                        await self.perform(actions)
                    }
                case .work(let work):
                    group.addTask { await work() }
                }
            }
            // Shutting down: pushes waiting for the end of their burst are stored for the next start
            // rather than sent early; stored retries stay where they are, due when they were due, and
            // another instance sharing the store may take them at once.
            let actions = state.withLock { $0.machine.shutDown() }
            await perform(actions)
            await flushActivity()
            group.cancelAll()
            do {
                try await store.releasePendingClaims(owner: instance)
            } catch {
                logger.warning("could not release the pending pushes held", metadata: [LogKey.reason: "\(error)"])
            }
        }
    }

    /// Takes the pending pushes nobody else holds (a previous run's, or a dead instance's) and sends
    /// them when they are due. Nodes this instance already has a push for keep theirs.
    private func claimPendingPushes() async {
        let room = policy.maximumQueuedPushes - queuedPushes
        guard room > 0 else { return }
        let pending: [PendingPush]
        do {
            pending = try await store.claimPendingPushes(owner: instance, now: clock.wallTime, leaseUntil: leaseEnd, limit: room)
        } catch {
            logger.error("could not read pending pushes", metadata: [LogKey.reason: "\(error)"])
            return
        }
        guard !pending.isEmpty else { return }
        let now = clock.now
        let wallNow = clock.wallTime
        let stored = pending.map { push in
            Machine.Stored(
                node: push.node, publish: push.publish, pushClass: push.pushClass, attempt: push.attempt,
                notBefore: now.advanced(by: .seconds(push.notBefore.timeIntervalSince(wallNow))),
                deadline: now.advanced(by: .seconds(push.deadline.timeIntervalSince(wallNow)))
            )
        }
        let (actions, restored) = state.withLock { state in
            let before = state.machine.queuedPushes
            let actions = state.machine.restore(stored, now: now)
            return (actions, state.machine.queuedPushes - before)
        }
        if restored > 0 {
            logger.info("pending pushes restored", metadata: [LogKey.count: "\(restored)"])
        }
        await perform(actions)
    }
}
