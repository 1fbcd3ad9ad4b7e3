import Testing

@testable import HeraldHarness

@Suite struct ByteSearchTests {
    private func find(_ needle: String, in haystack: String, from: Int = 0) -> Int? {
        Array(haystack.utf8).withUnsafeBytes { ByteSearch.find(Array(needle.utf8), in: $0, from: from) }
    }

    @Test func findsTheFirstPlaceAtOrAfterTheStart() {
        #expect(find("<iq ", in: "xx<iq a='1'/><iq b='2'/>") == 2)
        #expect(find("<iq ", in: "xx<iq a='1'/><iq b='2'/>", from: 3) == 13)
        #expect(find("</iq>", in: "<iq><i</iq>") == 6, "a partial match before the real one")
        #expect(find("abc", in: "ab") == nil)
        #expect(find("abc", in: "xxabc") == 2, "at the very end")
        #expect(find("a", in: "bbb") == nil)
        #expect(find("a", in: "bba", from: 3) == nil, "from the end")
        #expect(find("", in: "abc") == nil)
    }
}
