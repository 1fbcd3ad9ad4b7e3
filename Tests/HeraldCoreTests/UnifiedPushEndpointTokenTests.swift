import Foundation
import HeraldSupport
import Testing

@testable import HeraldCore

@Suite struct UnifiedPushEndpointTokenTests {
    static let tokens = UnifiedPushEndpointTokens(secret: "a-secret-of-some-length")
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let claims = UnifiedPushEndpointToken(
        jid: "romeo@example.org/conversations.x1", instance: String(repeating: "A", count: 43) + "=",
        application: String(repeating: "B", count: 43) + "=", component: "up.example.org", expires: 1_790_086_400
    )

    @Test func aSignedTokenVerifiesToWhatItCarriesAndIsURLSafe() throws {
        let text = Self.tokens.sign(Self.claims)
        #expect(try Self.tokens.verify(text, now: Self.now).get() == Self.claims)
        #expect(text.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }, "\(text)")
    }

    @Test func anExpiredTokenIsExpiredNotInvalid() {
        let text = Self.tokens.sign(Self.claims)
        #expect(Self.tokens.verify(text, now: Date(timeIntervalSince1970: 1_790_086_400)) == .failure(.expired))
    }

    @Test func anotherSecretsTokenIsInvalid() {
        let text = UnifiedPushEndpointTokens(secret: "another-secret-entirely").sign(Self.claims)
        #expect(Self.tokens.verify(text, now: Self.now) == .failure(.invalid))
    }

    /// Every byte of the token matters: a change anywhere makes it someone else's, or no one's.
    @Test func changingAnyCharacterMakesItInvalid() {
        let text = Array(Self.tokens.sign(Self.claims))
        var accepted = 0
        for index in text.indices where text[index] != "." {
            var changed = text
            changed[index] = changed[index] == "A" ? "B" : "A"
            if case .success = Self.tokens.verify(String(changed), now: Self.now) { accepted += 1 }
        }
        #expect(accepted == 0)
    }

    @Test(arguments: ["", ".", "a.b", "no-dot-at-all", String(repeating: "A", count: 3000) + ".AA"])
    func garbageIsInvalid(text: String) {
        #expect(Self.tokens.verify(text, now: Self.now) == .failure(.invalid))
    }

    @Test func aPayloadSignedCorrectlyButNotATokenIsInvalid() {
        // What a forger cannot make: but a well-signed payload of the wrong shape must fail too.
        #expect(Self.tokens.verify("e30." + Base64URL.encode([UInt8](repeating: 0, count: 32)), now: Self.now) == .failure(.invalid))
    }
}
