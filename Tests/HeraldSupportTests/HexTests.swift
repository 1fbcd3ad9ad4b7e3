import Testing

@testable import HeraldSupport

@Suite struct HexTests {
    @Test func writesTwoLowercaseDigitsPerByte() {
        #expect(Hex.encode([]) == "")
        #expect(Hex.encode([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(Hex.encode((0...255).map(UInt8.init)).count == 512)
    }
}
