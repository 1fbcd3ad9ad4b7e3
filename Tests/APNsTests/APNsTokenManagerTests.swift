import Crypto
import Foundation
import HeraldCore
import HeraldHarness
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import APNs

@Suite struct APNsTokenManagerTests {
    @Test func tokenIsReusedUntilFiftyMinutesThenRenewed() throws {
        let clock = ManualClock()
        let manager = APNsTokenManager(key: try ExampleKeys.apnsKey(), keyID: "K", teamID: "T", clock: clock)
        let first = try manager.bearer()
        clock.advance(by: .seconds(49 * 60))
        #expect(try manager.bearer() == first)
        clock.advance(by: .seconds(2 * 60))
        #expect(try manager.bearer() != first)
    }

    @Test func rejectedTokenIsRenewedOnceEvenWhenYoung() throws {
        let clock = ManualClock()
        let manager = APNsTokenManager(key: try ExampleKeys.apnsKey(), keyID: "K", teamID: "T", clock: clock)
        let first = try manager.bearer()
        clock.advance(by: .seconds(1))
        let renewed = try manager.renew(rejected: first)
        #expect(renewed != first)
        // A second request that saw the same rejection gets the renewed token, not a third one.
        #expect(try manager.renew(rejected: first) == renewed)
    }

    @Test func jwtHasKidIssAndAnIntegerIat() throws {
        let jwt = try APNsTokenManager.makeJWT(key: try ExampleKeys.apnsKey(), keyID: "ABC123DEFG", teamID: "DEF123GHIJ", issuedAt: Date(timeIntervalSince1970: 1_767_225_600.75))
        let parts = jwt.split(separator: ".")
        #expect(String(decoding: Base64URL.decode(parts[0])!, as: UTF8.self) == #"{"alg":"ES256","kid":"ABC123DEFG"}"#)
        #expect(String(decoding: Base64URL.decode(parts[1])!, as: UTF8.self) == #"{"iss":"DEF123GHIJ","iat":1767225600}"#)
        #expect(Base64URL.decode(parts[2])?.count == 64)
    }

    @Test func jwtVerifiesWithPyJWT() async throws {
        let key = try ExampleKeys.apnsKey()
        let jwt = try APNsTokenManager.makeJWT(key: key, keyID: "ABC123DEFG", teamID: "DEF123GHIJ", issuedAt: Date())
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-jwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("verify.py").path
        try """
            import sys, jwt
            token, key = open(sys.argv[1]).read(), open(sys.argv[2]).read()
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, key, algorithms=["ES256"], options={"require": ["iss", "iat"]})
            assert header == {"alg": "ES256", "kid": "ABC123DEFG"}, header
            assert claims["iss"] == "DEF123GHIJ" and isinstance(claims["iat"], int), claims
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let tokenFile = directory.appendingPathComponent("token").path
        let keyFile = directory.appendingPathComponent("key.pem").path
        try jwt.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try key.publicKey.pemRepresentation.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("log").path
        let status = try await PythonCheck.run(scriptAt: script, arguments: [tokenFile, keyFile], logPath: log)
        #expect(status == 0, "PyJWT: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}
