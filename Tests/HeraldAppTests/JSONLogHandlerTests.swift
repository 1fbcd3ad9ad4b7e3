import Foundation
import HeraldCore
import HeraldHarness
import HeraldSQLite
import HeraldTesting
import Logging
import Synchronization
import Testing

@testable import HeraldApp

@Suite struct JSONLogHandlerTests {
    @Test func writesOneJSONObjectPerLineWithMetadata() throws {
        let lines = LineSink()
        var handler = JSONLogHandler(label: "herald") { lines.append($0) }
        handler.logLevel = .debug
        handler[metadataKey: "xmpp.component.domain"] = "push.example.com"
        let logger = Logger(label: "herald") { _ in handler }
        logger.info("component connected", metadata: ["attempt": "2"])
        logger.trace("not written below debug")
        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "component connected")
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "herald")
        #expect(object["xmpp.component.domain"] as? String == "push.example.com")
        #expect(object["attempt"] as? String == "2")
        #expect(object["metadata"] == nil, "metadata is flat")
        let time = try #require(object["time"] as? String)
        #expect(time.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(time)")
        #expect(Set(object.keys) == ["time", "level", "label", "message", "source", "xmpp.component.domain", "attempt"])
    }

    @Test func nestedMetadataIsJoinedWithDotsAndAFixedFieldNameIsKeptApart() throws {
        let lines = LineSink()
        let handler = JSONLogHandler(label: "herald") { lines.append($0) }
        let logger = Logger(label: "herald") { _ in handler }
        logger.warning("vendor connection failed", metadata: [
            "http2": ["host": "api.push.apple.com", "error": "unavailable"],
            "message": "from metadata",
            "hosts": ["a", "b"],
        ])
        let line = try #require(lines.all.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["http2.host"] as? String == "api.push.apple.com")
        #expect(object["http2.error"] as? String == "unavailable")
        #expect(object["message"] as? String == "vendor connection failed")
        #expect(object["metadata.message"] as? String == "from metadata")
        #expect(object["hosts"] as? [String] == ["a", "b"])
    }
}
