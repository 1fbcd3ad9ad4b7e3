import Testing

@testable import XMPPComponent

@Suite struct JIDTests {
    @Test func readsEachPartAndWritesThemBack() throws {
        let full = try #require(JID("juliet@Example.COM/balcony/east"))
        #expect(full.localpart == "juliet")
        #expect(full.domainpart == "example.com")
        #expect(full.resourcepart == "balcony/east")
        #expect(full.description == "juliet@example.com/balcony/east")
        #expect(full.bare.description == "juliet@example.com")
        #expect(full.domain.description == "example.com")
        #expect(!full.isBare && !full.isDomain)
        #expect(JID("push.example.com")?.isDomain == true)
        #expect(JID("juliet@example.com")?.isBare == true)
    }

    @Test func aResourceMayHoldWhatALocalpartMayNot() {
        #expect(JID("example.com/a@b c")?.resourcepart == "a@b c")
        #expect(JID("a b@example.com") == nil)
    }

    @Test(arguments: [
        "", "@example.com", "juliet@", "juliet@example.com/", ".example.com", "example.com.", "exa mple.com",
        "<x>@example.com", "a@b@c", "ju:liet@example.com", String(repeating: "a", count: 1024) + "@example.com",
        "example.com/" + String(repeating: "r", count: 1024), String(repeating: "d", count: 1024),
    ])
    func refusesWhatIsNotAnAddress(text: String) {
        #expect(JID(text) == nil)
    }

    @Test func theLongestPartsAllowedAreAccepted() {
        #expect(JID(String(repeating: "a", count: 1023) + "@example.com") != nil)
        #expect(JID("example.com/" + String(repeating: "r", count: 1023)) != nil)
    }

    @Test func domainsCompareWithoutCase() {
        #expect(JID("ROMEO@Montague.LIT") == JID("ROMEO@montague.lit"))
        #expect(JID("romeo@montague.lit") != JID("Romeo@montague.lit"))
        #expect(JID(localpart: nil, domain: "ÉCOLE.fr").domainpart == "école.fr")
    }
}
