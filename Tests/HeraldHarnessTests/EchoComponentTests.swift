import Testing

@testable import HeraldHarness

/// The benchmark's Prosody scenario in small: the load generator as a component of a real Prosody,
/// its publishes routed by Prosody to the echo component, every one answered `result`.
@Suite(.timeLimit(.minutes(2))) struct EchoComponentTests {
    @Test func publishesThroughProsodyComeBackAsResults() async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.bench", secret: "echo-secret"), .init(domain: "bench.example", secret: "generator-secret")])
        prosody.modules = ["disco", "ping"]
        try await prosody.start()
        defer { prosody.terminate() }
        let echo = try await EchoComponent.connect(port: prosody.componentPort, domain: "push.bench", secret: "echo-secret")
        let generator = try await LoadGenerator.connect(
            port: prosody.componentPort, domain: "bench.example", secret: "generator-secret", publishSecret: "unused"
        )
        #expect(await generator.waitForHandshake(timeout: .seconds(30)) != nil)
        let result = try await generator.run(.init(publishes: 500, window: 50, registrations: 100, timeLimit: .seconds(60)))
        #expect(result.results == 500)
        #expect(result.unexpected == 0)
        #expect(result.errors.isEmpty)
        #expect(try await echo.answered >= 500)
        await generator.stop()
        await echo.stop()
    }

    @Test func aWrongSecretIsRefused() async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.bench", secret: "right")])
        prosody.modules = ["disco"]
        try await prosody.start()
        defer { prosody.terminate() }
        await #expect(throws: LoadGeneratorError.self) {
            _ = try await EchoComponent.connect(port: prosody.componentPort, domain: "push.bench", secret: "wrong", timeout: .seconds(3))
        }
    }
}
