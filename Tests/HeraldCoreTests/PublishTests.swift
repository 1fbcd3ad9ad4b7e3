import Foundation
import Testing

@testable import HeraldCore

private func registration(voip: String? = nil) -> Registration {
    Registration(
        node: "node-1", secret: "s3cret", app: "chat", service: .apns, dialect: .p2, token: "token", voipToken: voip,
        environment: .production, accountDomain: "example.org", accountKey: "acct", deviceKey: "dev", createdAt: Date(timeIntervalSince1970: 0)
    )
}

private func publish(body: String?) -> Publish {
    Publish(node: "node-1", publisherDomain: "example.org", secret: "s3cret", summary: Publish.Summary(messageCount: 1, lastMessageBody: body))
}

@Suite struct PublishTests {
    @Test func encryptedCallWithPushKitTokenIsVoIP() {
        let call = Publish(node: "n", publisherDomain: "d", encrypted: .init(payload: "x", iv: "y", type: "voip"))
        #expect(PushClass.of(call, registration: registration(voip: "abcd")) == .voip)
        #expect(PushClass.of(call, registration: registration()) == .background)
    }

    @Test func highPriorityIsAnAlert() {
        let high = Publish(node: "n", publisherDomain: "d", encrypted: .init(payload: "x", iv: "y"), highPriority: true)
        #expect(PushClass.of(high, registration: registration()) == .alert)
    }

    @Test func emptyBodyIsBackground() {
        #expect(PushClass.of(publish(body: ""), registration: registration()) == .background)
        #expect(PushClass.of(publish(body: "New Message!"), registration: registration()) == .alert)
    }
}
