import Foundation
import HeraldCore
import HeraldTesting
import HeraldXMPP
import Hummingbird
import HummingbirdTesting
import Logging
import NIOFoundationEssentialsCompat
import Prometheus
import Testing

@testable import HeraldAdmin

/// Siskin's REST unregister, at router level, against registrations made as `register-device` makes them.
@Suite struct TigaseRESTRoutesTests {
    static let siskin = App(name: "siskin", services: [.apns], tigaseProviders: App.defaultTigaseProviders(for: [.apns]))
    static let token = String(repeating: "ab12", count: 16)

    final class Fixture: Sendable {
        let store = InMemoryRegistrationStore()
        let registrations: RegistrationService

        init() {
            registrations = RegistrationService(store: store, policy: .init())
        }

        /// As `register-device` from romeo@example.org registers a Siskin device.
        func registerSiskinDevice(token: String = TigaseRESTRoutesTests.token) async throws -> Registration {
            try await registrations.register(RegistrationRequest(
                app: TigaseRESTRoutesTests.siskin, service: .apns, dialect: .tigase, token: token,
                account: "romeo@example.org", accountDomain: "example.org", deviceID: token, issueSecret: false
            ))
        }

        func application() -> some ApplicationProtocol {
            let dependencies = AdminDependencies(
                readiness: { [] },
                metricsRegistry: PrometheusCollectorRegistry(),
                sampleGauges: {},
                registrations: registrations,
                apps: AppDirectory(apps: [TigaseRESTRoutesTests.siskin]),
                pubsubService: { _ in "push.example.com" },
                sendTestPush: { _ in nil },
                parseAccount: AccountAddress.parse,
                componentApps: { $0 == "push.example.com" ? AppDirectory(apps: [TigaseRESTRoutesTests.siskin]) : nil }
            )
            // No admin token: the route needs none, and the bearer API is off.
            return Application(router: AdminRoutes.router(dependencies, token: nil))
        }
    }

    static func body(account: String = "romeo@example.org", provider: String = "tigase:messenger:apns:1", token: String = token) -> ByteBuffer {
        ByteBuffer(string: #"{"account":"\#(account)","provider":"\#(provider)","device-token":"\#(token)"}"#)
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    @Test func siskinsUnregisterRemovesTheDeviceAndSaysSuccess() async throws {
        let fixture = Fixture()
        let registration = try await fixture.registerSiskinDevice()
        try await fixture.application().test(.router) { client in
            // As Siskin sends it: the token in capitals is the same token.
            let body = Self.body(token: Self.token.uppercased())
            try await client.execute(uri: "/rest/push/unregister-device/push.example.com", method: .post, headers: Self.json, body: body) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"result":"success"}"#)
            }
            #expect(try await fixture.store.registration(node: registration.node) == nil)
            try await client.execute(uri: "/rest/push/unregister-device/push.example.com", method: .post, headers: Self.json, body: body) { response in
                #expect(response.status == .notFound, "gone already")
            }
        }
    }

    @Test(arguments: [
        ("/rest/push/unregister-device/push.example.com", body(account: "mallory@example.org"), HTTPResponse.Status.notFound),
        ("/rest/push/unregister-device/push.example.com", body(token: String(repeating: "cd34", count: 16)), .notFound),
        ("/rest/push/unregister-device/push.example.com", body(provider: "tigase:messenger:fcm:1"), .notFound),
        ("/rest/push/unregister-device/push.elsewhere.example", body(), .notFound),
        ("/rest/push/unregister-device/push.example.com", body(account: "example.org"), .badRequest),
        ("/rest/push/unregister-device/push.example.com", body(token: ""), .badRequest),
        ("/rest/push/unregister-device/push.example.com", ByteBuffer(string: "{"), .badRequest),
        ("/rest/push/unregister-device/push.example.com", ByteBuffer(repeating: 0x20, count: 64 * 1024), .badRequest),
    ])
    func anythingButTheRegisteredDeviceOfThatAccountLeavesItInPlace(uri: String, body: ByteBuffer, status: HTTPResponse.Status) async throws {
        let fixture = Fixture()
        let registration = try await fixture.registerSiskinDevice()
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: uri, method: .post, headers: Self.json, body: body) { response in
                #expect(response.status == status)
            }
        }
        #expect(try await fixture.store.registration(node: registration.node) != nil)
    }
}
