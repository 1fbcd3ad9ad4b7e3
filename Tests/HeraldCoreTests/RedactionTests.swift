import Testing

@testable import HeraldCore

@Suite struct RedactionTests {
    @Test func fingerprintIsShortStableAndHidesTheValue() {
        let token = "a3f9c2d1e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1"
        let fingerprint = Redaction.fingerprint(token)
        #expect(fingerprint.count == 12)
        #expect(fingerprint == Redaction.fingerprint(token))
        #expect(fingerprint != Redaction.fingerprint(token + "0"))
        #expect(!token.contains(fingerprint))
    }
}
