import Foundation
import HeraldCore
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

@Suite struct UnifiedPushRegisterHandlerTests {
    static let tokens = UnifiedPushEndpointTokens(secret: "a-secret-of-some-length")
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let instance = Data(repeating: 1, count: 32).base64EncodedString()
    static let application = Data(repeating: 2, count: 32).base64EncodedString()
    static let handler = UnifiedPushRegisterHandler(settings: UnifiedPushRegistrationSettings(
        tokens: tokens, publicURL: "https://up.example.org/", registrationLifetime: .seconds(86400),
        allowedDomains: ["example.org"], now: { now }
    ))
    static let context = ComponentContext(domain: JID(domain: "up.example.org"), logger: Logger(label: "test"))

    static func register(from: String = "romeo@example.org/phone", instance: String? = instance, application: String? = application) throws -> StreamElement {
        let attributes = [instance.map { "instance='\($0)'" }, application.map { "application='\($0)'" }].compactMap { $0 }.joined(separator: " ")
        return try stanza("<iq type='set' from='\(from)' to='up.example.org' id='r1'><register xmlns='\(UnifiedPushNamespace.unifiedPush)' \(attributes)/></iq>")
    }

    @Test func aDistributorGetsAnEndpointWhoseTokenNamesItAndExpires() async throws {
        let reply = try #require(try await Self.handler.handle(try Self.register(), context: Self.context))
        #expect(reply.stanzaType == "result")
        let registered = try #require(reply.child("registered", namespace: UnifiedPushNamespace.unifiedPush))
        #expect(registered[attribute: "expiration"] == "2026-09-22T14:13:20Z")
        let endpoint = try #require(registered[attribute: "endpoint"])
        #expect(endpoint.hasPrefix("https://up.example.org/push/"))
        let token = try Self.tokens.verify(endpoint.dropFirst("https://up.example.org/push/".count), now: Self.now).get()
        #expect(token == UnifiedPushEndpointToken(
            jid: "romeo@example.org/phone", instance: Self.instance, application: Self.application, component: "up.example.org", expires: 1_790_086_400
        ))
    }

    @Test(arguments: ["example.org", "romeo@example.org", "up.example.org/x", "mallory@evil.example/phone"])
    func onlyAUsersFullJIDOfAServedDomainMayRegister(from: String) async throws {
        let iq = try Self.register(from: from)
        do {
            _ = try await Self.handler.handle(iq, context: Self.context)
            Issue.record("accepted")
        } catch {
            #expect(error.condition == "forbidden")
        }
    }

    @Test(arguments: [
        (nil, application), (instance, nil), ("not base64!", application),
        (Data(repeating: 1, count: 31).base64EncodedString(), application), (instance, Data(repeating: 2, count: 33).base64EncodedString()),
        (String(repeating: "A", count: 400), application),
    ] as [(String?, String?)])
    func instanceAndApplicationMustBe32BytesInBase64(instance: String?, application: String?) async throws {
        let iq = try Self.register(instance: instance, application: application)
        do {
            _ = try await Self.handler.handle(iq, context: Self.context)
            Issue.record("accepted")
        } catch {
            #expect(error.type == .modify)
            #expect(error.condition == "bad-request")
        }
    }

    @Test func theRouterListsTheNamespace() {
        var router = ComponentRouter.pushService()
        router.registerUnifiedPush(Self.handler)
        #expect(router.features.contains(UnifiedPushNamespace.unifiedPush))
    }
}
