import Crypto
import CryptoExtras
import Foundation
import HeraldSupport
import Testing

@testable import VendorSupport

@Suite struct JWTTests {
    private func parts(_ token: String) throws -> (header: String, claims: String, signature: [UInt8], signingInput: String) {
        let pieces = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(pieces.count == 3)
        let header = try #require(Base64URL.decode(pieces[0]))
        let claims = try #require(Base64URL.decode(pieces[1]))
        let signature = try #require(Base64URL.decode(pieces[2]))
        return (String(decoding: header, as: UTF8.self), String(decoding: claims, as: UTF8.self), signature, "\(pieces[0]).\(pieces[1])")
    }

    @Test func es256IsARawSignatureOverTheFirstTwoSegments() throws {
        let key = P256.Signing.PrivateKey()
        let token = try JWT.sign(header: #"{"alg":"ES256","kid":"K"}"#, claims: #"{"iss":"T","iat":1}"#, with: .es256(key))
        let (header, claims, signature, signingInput) = try parts(token)
        #expect(header == #"{"alg":"ES256","kid":"K"}"#)
        #expect(claims == #"{"iss":"T","iat":1}"#)
        // JOSE's r‖s, not DER: exactly 64 bytes.
        #expect(signature.count == 64)
        let parsed = try P256.Signing.ECDSASignature(rawRepresentation: signature)
        #expect(key.publicKey.isValidSignature(parsed, for: Data(signingInput.utf8)))
        #expect(!token.contains("=") && !token.contains("+") && !token.contains("/"))
    }

    @Test func rs256IsPKCS1OverTheFirstTwoSegments() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let token = try JWT.sign(header: #"{"alg":"RS256","typ":"JWT"}"#, claims: #"{"aud":"x"}"#, with: .rs256(key))
        let (_, _, signature, signingInput) = try parts(token)
        #expect(signature.count == 256)
        let parsed = _RSA.Signing.RSASignature(rawRepresentation: signature)
        #expect(key.publicKey.isValidSignature(parsed, for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5))
        #expect(!key.publicKey.isValidSignature(parsed, for: Data((signingInput + "x").utf8), padding: .insecurePKCS1v1_5))
    }
}
