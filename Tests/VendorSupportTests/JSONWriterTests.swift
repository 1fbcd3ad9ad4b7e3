import Foundation
import Testing

@testable import VendorSupport

@Suite struct JSONWriterTests {
    @Test func writesNestedObjectsInTheOrderGiven() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.beginObject("aps")
        writer.string("alert", "New message")
        writer.number("badge", 3)
        writer.endObject()
        writer.bool("silent", false)
        writer.beginObject("empty")
        writer.endObject()
        writer.endObject()
        #expect(writer.text == #"{"aps":{"alert":"New message","badge":3},"silent":false,"empty":{}}"#)
    }

    /// Every character a user could put into a message, through a real JSON parser and back.
    @Test func escapesWhatJSONRequiresAndKeepsTheRest() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} bell \u{7} unit \u{1F} é 💬 </script>"
        var writer = JSONWriter()
        writer.beginObject()
        writer.string("k\"ey", awkward)
        writer.endObject()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(writer.text.utf8)) as? [String: String])
        #expect(parsed == ["k\"ey": awkward])
        #expect(writer.text.contains(#"\u0000"#) && writer.text.contains(#"\u001f"#))
    }

    @Test func numbersAtTheirLimits() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.number("max", .max)
        writer.number("min", .min)
        writer.endObject()
        #expect(writer.text == "{\"max\":\(Int.max),\"min\":\(Int.min)}")
    }
}
