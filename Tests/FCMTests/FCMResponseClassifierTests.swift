import Foundation
import HeraldCore
import Testing

@testable import FCM

@Suite struct FCMResponseClassifierTests {
    @Test(arguments: [
        (#"{"name":"projects/p/messages/1"}"#, "projects/p/messages/1"),
        ("{\n  \"name\" :\t\"projects/p/messages/0:15%2abc\"\n}\n", "projects/p/messages/0:15%2abc"),
        (#"{"other":1,"name":"n"}"#, "n"),
        (#"{"name":"with \"escape\""}"#, nil),
        (#"{"name":42}"#, nil),
        (#"{"nam":"x"}"#, nil),
        ("", nil),
        (#"{"name":"unterminated"#, nil),
    ] as [(String, String?)])
    func aSuccessCarriesItsMessageName(body: String, name: String?) {
        #expect(FCMResponseClassifier.messageName(in: Data(body.utf8)) == name)
        #expect(FCMResponseClassifier.outcome(status: 200, body: Data(body.utf8), retryAfter: nil) == .delivered(id: name))
    }
}
