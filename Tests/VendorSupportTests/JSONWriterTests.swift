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

extension JSONWriterTests {
    /// Commas are tracked per level: an object closed deep down leaves each enclosing one knowing
    /// whether it already has members, all the way to the deepest level the writer allows.
    @Test func nestsToItsDeepestLevelWithCommasInTheRightPlaces() throws {
        var writer = JSONWriter()
        writer.beginObject()
        for level in 1..<JSONWriter.maximumDepth {
            writer.number("before\(level)", level)
            writer.beginObject("inner\(level)")
        }
        writer.string("deepest", "x")
        for level in (1..<JSONWriter.maximumDepth).reversed() {
            writer.endObject()
            writer.number("after\(level)", level)
        }
        writer.endObject()

        var level = 1
        var object = try #require(try JSONSerialization.jsonObject(with: Data(writer.text.utf8)) as? [String: Any])
        while let inner = object["inner\(level)"] as? [String: Any] {
            #expect(object["before\(level)"] as? Int == level && object["after\(level)"] as? Int == level)
            #expect(object.count == 3)
            object = inner
            level += 1
        }
        #expect(level == JSONWriter.maximumDepth)
        #expect(object as? [String: String] == ["deepest": "x"])
    }

    /// An object starts without members even where its sibling before it had some; an empty object
    /// takes no comma inside, and the members after it take one.
    @Test func siblingObjectsEachStartWithoutMembers() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.beginObject("a")
        writer.number("x", 1)
        writer.number("y", 2)
        writer.endObject()
        writer.beginObject("b")
        writer.number("z", 3)
        writer.endObject()
        writer.beginObject("c")
        writer.beginObject("d")
        writer.endObject()
        writer.endObject()
        writer.bool("e", true)
        writer.endObject()
        #expect(writer.text == #"{"a":{"x":1,"y":2},"b":{"z":3},"c":{"d":{}},"e":true}"#)
    }
}
