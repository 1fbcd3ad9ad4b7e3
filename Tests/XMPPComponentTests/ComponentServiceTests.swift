
import HeraldTesting
import InMemoryLogging
import Logging
import NIOPosix
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import XMLStream

@testable import XMPPComponent

private func configuration(port: Int, secret: String = "s3cret", handshakeTimeout: Duration = .seconds(5)) -> ComponentConfiguration {
    ComponentConfiguration(
        domain: "push.example.com",
        secret: secret,
        host: "127.0.0.1",
        port: port,
        keepaliveInterval: .milliseconds(200),
        handshakeTimeout: handshakeTimeout,
        reconnectSchedule: FixedReconnectDelay(.milliseconds(20)),
        drainTimeout: .seconds(2)
    )
}

/// The suite's own event loop, for its fake servers and services alike: these tests wait on timers and
/// reconnects, and NIO's shared loops, which the volume tests beside them keep busy for seconds at a
/// time on two cores, froze them past every deadline (see withOwnEventLoop).
private let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

private func makeService(
    port: Int,
    secret: String = "s3cret",
    // Long enough that a machine busy with the whole suite does not time out a handshake that succeeds;
    // the handshake-timeout test sets its own.
    handshakeTimeout: Duration = .seconds(30),
    logs: InMemoryLogHandler = InMemoryLogHandler()
) -> ComponentService {
    let router = ComponentRouter(identity: testIdentity, extraFeatures: [testFeature])
    return ComponentService(
        configuration: configuration(port: port, secret: secret, handshakeTimeout: handshakeTimeout),
        router: router,
        logger: Logger(label: "test") { _ in logs },
        eventLoopGroup: loops
    )
}

private func ping(id: String) -> StreamElement {
    StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "get", "id": id, "from": "example.org", "to": "push.example.com"])
        .appending(StreamElement("ping", namespace: Namespace.ping))
}

private func isStreamError(_ condition: String) -> @Sendable (StreamElement) -> Bool {
    { $0.name == "error" && $0.namespace == StreamError.streamNamespace && $0.child(condition) != nil }
}

@Suite(.timeLimit(.minutes(1))) struct ComponentServiceTests {
    @Test func connectsAuthenticatesAndAnswersPing() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let service = makeService(port: server.port)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            #expect(server.successfulHandshakes == 1)
            try await server.send(ping(id: "p1"))
            let reply = try await server.inbox.next { $0.stanzaID == "p1" }
            #expect(reply.stanzaType == "result")
            #expect(reply[attribute: "to"] == "example.org")
        }
        await server.stop()
    }

    @Test func wrongSecretIsReportedAndRetriedWithBackoff() async throws {
        let server = try await FakeComponentServer.start(secret: "right", group: loops)
        let logs = InMemoryLogHandler()
        let service = makeService(port: server.port, secret: "wrong", logs: logs)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { server.acceptedConnections >= 3 })
            #expect(!service.status.isConnected)
            #expect(service.status.establishedConnections == 0)
            #expect(service.status.lastDisconnectReason == "not-authorized")
        }
        let refusal = logs.entries.first { $0.message == "component authentication refused: check the component secret" }
        #expect(refusal?.level == .error)
        #expect(refusal?.metadata[ComponentLogKey.streamCondition] == "not-authorized")
        #expect(logs.entries.contains { $0.message == "component reconnecting" })
        #expect(!logs.entries.contains { "\($0.metadata)".contains("wrong") }, "the secret must never be logged")
        await server.stop()
    }

    /// Refused with `conflict`, a component with a standby interval waits at that fixed interval (not
    /// its growing schedule), says so once, reports `standby`, and takes over once the domain is free.
    @Test func conflictMakesAStandbyThatRetriesAtAFixedIntervalAndTakesOver() async throws {
        let holder = Atomic<Bool>(true)
        let server = try await FakeComponentServer.start(secret: "s3cret", handshake: .conflict(held: { holder.load(ordering: .relaxed) }), group: loops)
        let clock = ManualClock()
        // The test moves the clock in steps: a handshake must not time out on it meanwhile.
        var configuration = configuration(port: server.port, handshakeTimeout: .seconds(3600))
        configuration.reconnectSchedule = FixedReconnectDelay(.seconds(60))
        configuration.standbyRetry = .seconds(2)
        let logs = InMemoryLogHandler()
        let service = ComponentService(
            configuration: configuration, router: ComponentRouter(identity: testIdentity), logger: Logger(label: "test") { _ in logs },
            eventLoopGroup: loops, clock: clock
        )
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { server.acceptedConnections >= 1 && service.status.isStandby })
            // The component's clock moved on in 2 s steps brings try after try.
            #expect(await eventually {
                clock.advance(by: .seconds(2))
                return server.acceptedConnections >= 4
            })
            #expect(service.status.isStandby)
            #expect(logs.entries.filter { $0.message == "component on standby: another connection holds the domain" }.count == 1)
            #expect(!logs.entries.contains { $0.message == "component reconnecting" }, "no backoff on standby")
            #expect(!logs.entries.contains { $0.level == .error }, "standing by is not an error")
            holder.store(false, ordering: .relaxed)
            #expect(await eventually {
                clock.advance(by: .seconds(2))
                return service.status.isConnected
            })
            #expect(logs.entries.contains { $0.message == "component became primary: the domain's stanzas now come here" })
        }
        await server.stop()
    }

    /// The reconnect schedule is kept on the component's clock: with a manual clock and a minute's
    /// delay, no second attempt is made until the minute has passed.
    @Test func reconnectsOnlyWhenTheScheduleSaysOnTheInjectedClock() async throws {
        let server = try await FakeComponentServer.start(secret: "right", group: loops)
        let clock = ManualClock()
        var configuration = configuration(port: server.port, secret: "wrong")
        configuration.reconnectSchedule = FixedReconnectDelay(.seconds(60))
        let logs = InMemoryLogHandler()
        let service = ComponentService(
            configuration: configuration, router: ComponentRouter(identity: testIdentity), logger: Logger(label: "test") { _ in logs },
            eventLoopGroup: loops, clock: clock
        )
        try await whileRunning({ await service.run() }) {
            // Refused once; the session (and its handshake timer) is over, and the reconnect delay is
            // the one sleeper on the manual clock.
            #expect(await eventually {
                server.acceptedConnections == 1 && logs.entries.contains { $0.message == "component reconnecting" } && clock.sleeperCount == 1
            })
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.acceptedConnections == 1, "no attempt before the schedule's delay")
            clock.advance(by: .seconds(59))
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.acceptedConnections == 1)
            clock.advance(by: .seconds(1))
            #expect(await eventually { server.acceptedConnections == 2 }, "the next attempt once the minute has passed")
        }
        await server.stop()
    }

    @Test(arguments: [
        ("<!-- a comment -->", "restricted-xml"),
        ("<iq type='get'></query>", "not-well-formed"),
        ("<?xml-stylesheet href='x'?>", "restricted-xml"),
        ("<undeclared:iq/>", "not-well-formed"),
    ])
    func malformedInputGetsAStreamErrorAndAReconnect(input: String, condition: String) async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let service = makeService(port: server.port)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            let before = server.successfulHandshakes
            try await server.sendRaw(input)
            _ = try await server.inbox.next("stream error \(condition)", where: isStreamError(condition))
            #expect(await eventually { server.successfulHandshakes > before && service.status.isConnected })
        }
        await server.stop()
    }

    @Test func stanzasOverTheLimitsCostTheirSenderNotTheStream() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let logs = InMemoryLogHandler()
        let service = makeService(port: server.port, logs: logs)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            // What Prosody makes of a 100,000-apostrophe message, a message 80 deep, and an iq 80 deep.
            let apostrophes = String(repeating: "&apos;", count: 100_000)
            try await server.sendRaw("<message to='push.example.com' from='u@example.org/r'><body>\(apostrophes)</body></message>")
            let deep = String(repeating: "<a>", count: 80) + String(repeating: "</a>", count: 80)
            try await server.sendRaw("<message to='push.example.com'>\(deep)</message>")
            try await server.sendRaw("<iq type='set' id='deep-iq' from='u@example.org/r' to='push.example.com'>\(deep)</iq>")
            try await server.sendRaw("<iq type='get' id='big-iq' from='u@example.org/r' to='push.example.com'><query>\(apostrophes)</query></iq>")
            for id in ["deep-iq", "big-iq"] {
                let reply = try await server.inbox.next { $0.stanzaID == id }
                #expect(reply.stanzaType == "error")
                #expect(reply[attribute: "to"] == "u@example.org/r")
                #expect(StanzaError(stanza: reply)?.type == .modify)
                #expect(StanzaError(stanza: reply)?.condition == "policy-violation")
            }
            try await server.send(ping(id: "after"))
            #expect(try await server.inbox.next { $0.stanzaID == "after" }.stanzaType == "result")
            #expect(server.acceptedConnections == 1)
            #expect(service.status.establishedConnections == 1)
        }
        #expect(logs.entries.filter { $0.message == "stanza over a limit skipped" }.count == 4)
        #expect(!logs.entries.contains { "\($0.metadata)".contains(String(repeating: "'", count: 8)) }, "a stanza's content must not be logged")
        await server.stop()
    }

    @Test func unansweredHandshakeTimesOutAndRetries() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", handshake: .ignore, group: loops)
        let service = makeService(port: server.port, handshakeTimeout: .milliseconds(300))
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { server.acceptedConnections >= 2 })
            #expect(service.status.establishedConnections == 0)
        }
        await server.stop()
    }

    @Test func reconnectsAfterTheServerDropsTheConnection() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let logs = InMemoryLogHandler()
        let service = makeService(port: server.port, logs: logs)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            let keepalivesBefore = server.keepalivesReceived
            await server.dropConnections()
            let openAfterDrop = server.openConnections
            // At least a second connection: on a busy machine a handshake can also be cut short and retried.
            #expect(
                await eventually { service.status.establishedConnections >= 2 && service.status.isConnected },
                """
                state \(service.status.current), attempts \(service.status.connectionAttempts), \
                established \(service.status.establishedConnections), accepted \(server.acceptedConnections), \
                open after the drop \(openAfterDrop), now \(server.openConnections), \
                keepalives before the drop \(keepalivesBefore), now \(server.keepalivesReceived), \
                log \(logs.entries.map { "\($0.message) \($0.metadata)" })
                """
            )
        }
        await server.stop()
    }

    @Test func sendsWhitespaceKeepalives() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let service = makeService(port: server.port)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            // Keepalives (every 200 ms here) are whitespace the peer's parser accepts silently; they must
            // arrive, and the stream must survive them and still answer.
            #expect(await eventually { server.keepalivesReceived >= 2 })
            try await server.send(ping(id: "after-keepalives"))
            _ = try await server.inbox.next { $0.stanzaID == "after-keepalives" }
            #expect(service.status.establishedConnections == 1)
        }
        await server.stop()
    }

    @Test func tracksItsOwnRequestsByIDWithATimeout() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let service = makeService(port: server.port)
        try await whileRunning({ await service.run() }) {
            #expect(await eventually { service.status.isConnected })
            let request = Stanza.iq(
                type: "get", id: "h1", from: JID(domain: "push.example.com"), to: JID(domain: "example.org"),
                payload: StreamElement("ping", namespace: Namespace.ping)
            )
            async let response = service.request(request, timeout: .seconds(5))
            let sent = try await server.inbox.next { $0.stanzaID == "h1" }
            try await server.send(sent.iqResult())
            #expect(try await response.stanzaType == "result")

            var unanswered = request
            unanswered[attribute: "id"] = "h2"
            await #expect(throws: ComponentRequestError.timedOut) {
                try await service.request(unanswered, timeout: .milliseconds(200))
            }
        }
        await server.stop()
    }

    @Test func gracefulShutdownClosesTheStreamCleanly() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        let service = makeService(port: server.port)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await service.run() }
                #expect(await eventually { service.status.isConnected })
                trigger.triggerGracefulShutdown()
                _ = try await server.inbox.next("closing tag") { $0.name == "stream-end" }
                try await group.waitForAll()
            }
        }
        #expect(service.status.current == .stopped)
        await server.stop()
    }

    @Test func aRequestStillUnansweredAtTheDrainDeadlineHearsWaitBeforeTheStreamCloses() async throws {
        let server = try await FakeComponentServer.start(secret: "s3cret", group: loops)
        var router = ComponentRouter(identity: testIdentity, extraFeatures: [testFeature])
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        router.register(NeverAnswering(started: startedContinuation), type: "set", payload: "pubsub", namespace: Namespace.pubsub)
        let service = ComponentService(configuration: configuration(port: server.port), router: router, logger: Logger(label: "test"), eventLoopGroup: loops)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await service.run() }
                #expect(await eventually { service.status.isConnected })
                let publish = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "slow", "from": "example.org", "to": "push.example.com"])
                    .appending(StreamElement("pubsub", namespace: Namespace.pubsub))
                try await server.send(publish)
                for await _ in started { break }
                trigger.triggerGracefulShutdown()
                let answer = try await server.inbox.next("the publish's answer") { $0.stanzaID == "slow" }
                #expect(answer.stanzaType == "error")
                #expect(answer.child("error")?[attribute: "type"] == "wait")
                #expect(answer.child("error")?.child("resource-constraint") != nil)
                _ = try await server.inbox.next("closing tag") { $0.name == "stream-end" }
                group.cancelAll()
            }
        }
        await server.stop()
    }
}

/// A handler slower than any drain deadline.
private struct NeverAnswering: IQHandler {
    let started: AsyncStream<Void>.Continuation

    func handle(_ iq: StreamElement, context: ComponentContext) async throws(StanzaError) -> StreamElement? {
        started.yield()
        try? await Task.sleep(for: .seconds(600))
        return iq.iqResult()
    }
}
