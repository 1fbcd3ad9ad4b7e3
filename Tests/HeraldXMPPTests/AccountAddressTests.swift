import Testing

@testable import HeraldXMPP

@Suite struct AccountAddressTests {
    @Test func accountsAreBareUserJIDsWithTheDomainLowercased() {
        #expect(AccountAddress.parse("alice@Example.org/phone")?.account == "alice@example.org")
        #expect(AccountAddress.parse("alice@example.org")?.domain == "example.org")
        #expect(AccountAddress.parse("example.org") == nil)
        #expect(AccountAddress.parse("@example.org") == nil)
        #expect(AccountAddress.parse("a@b@c") == nil)
    }
}
