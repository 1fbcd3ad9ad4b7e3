import Foundation
import Testing

@testable import HeraldSupport

@Suite struct Base64URLTests {
    /// Every length around the 3-byte groups, against Foundation's encoder with the URL alphabet.
    @Test(arguments: 0...40) func encodesAsFoundationDoesWithTheURLAlphabet(length: Int) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let expected = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(Base64URL.encode(bytes) == expected)
        #expect(Base64URL.decode(expected) == bytes)
    }

    @Test func readsPaddingAndTheStandardAlphabet() {
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("+/8=") == [0xFB, 0xFF])
        #expect(Base64URL.decode("") == [])
    }

    @Test func refusesWhatCannotBeAnEncoding() {
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab c") == nil)
        #expect(Base64URL.decode("abc*") == nil)
        #expect(Base64URL.decode("é") == nil)
    }
}
