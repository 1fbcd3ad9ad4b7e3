import HeraldCore
import HeraldHarness
import HeraldTesting
import Logging
import ServiceLifecycle
import Testing
import XMPPComponent

@testable import HeraldApp

/// The application as `herald serve` builds it, against a real Prosody with two component domains.
@Suite(.timeLimit(.minutes(1))) struct HeraldApplicationTests {
    @Test func servesEveryConfiguredComponentDomain() async throws {
        let prosody = try ProsodyServer(components: [
            .init(domain: "push.localhost", secret: "one"),
            .init(domain: "push2.localhost", secret: "two"),
        ])
        try await prosody.start()
        defer { prosody.terminate() }
        let configuration = try HeraldConfiguration.load(
            path: nil,
            environment: [
                "HERALD_XMPP__PORT": "\(prosody.componentPort)",
                "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
                "HERALD_COMPONENTS__0__SECRET": "one",
                "HERALD_ADMIN__PORT": "0",
                "HERALD_COMPONENTS__1__DOMAIN": "push2.localhost",
                "HERALD_COMPONENTS__1__SECRET": "two",
            ]
        )
        let application = try HeraldApplication(configuration: configuration, logger: Logger(label: "test"), store: InMemoryRegistrationStore())
        let group = application.serviceGroup(signals: false)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually { application.components.allSatisfy { $0.status.isConnected } })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(application.components.allSatisfy { $0.status.current == .stopped })
    }
}
