import Foundation
import HeraldCore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import HeraldAdmin

@Suite(.timeLimit(.minutes(1))) struct UnifiedPushServerTests {
    @Test func aTakenPortStopsItWithAMessageThatNamesTheKey() async throws {
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(holder.localAddress?.port)
        let routes = UnifiedPushRoutes(tokens: UnifiedPushEndpointTokens(secret: "a-secret-of-some-length"), rateLimit: 1, rateWindow: .seconds(1)) { _, _ in .delivered }
        let server = UnifiedPushServer(routes: routes, configuration: .init(host: "127.0.0.1", port: port), logger: Logger(label: "test"))
        do {
            try await server.run()
            Issue.record("ran on a taken port")
        } catch let error as ListenerError {
            #expect(error.description == "unified push endpoint cannot listen on 127.0.0.1:\(port): address in use (stop what listens there, or set unified_push.port / HERALD_UNIFIED_PUSH__PORT)")
        }
        try await holder.close()
    }
}
