import Crypto
import Foundation
import HeraldCore
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import WebPush

@Suite struct WebPushEncryptionTests {
    @Test func encryptedBodyDecryptsWithAnIndependentImplementation() async throws {
        let subscriber = Subscriber()
        let plaintext = Data(#"{"type":"push","priority":"high"}"#.utf8)
        let body = try WebPushEncryption.encrypt(plaintext, p256dh: subscriber.p256dh, auth: subscriber.auth)
        #expect(body.count == 16 + 4 + 1 + 65 + plaintext.count + 1 + 16)
        let (status, output) = try await PythonCheck.run(decryptScript, files: [body, Data(subscriber.key.pemRepresentation.utf8), subscriber.auth])
        #expect(status == 0, "http_ece: \(output)")
        #expect(output == String(decoding: plaintext, as: UTF8.self))
    }

    @Test func everyMessageHasAFreshKeyAndSalt() throws {
        let subscriber = Subscriber()
        let first = try WebPushEncryption.encrypt(Data("a".utf8), p256dh: subscriber.p256dh, auth: subscriber.auth)
        let second = try WebPushEncryption.encrypt(Data("a".utf8), p256dh: subscriber.p256dh, auth: subscriber.auth)
        #expect(first.prefix(16) != second.prefix(16))
        #expect(first[21..<86] != second[21..<86])
    }
}
