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
        #expect((object["metadata"] as? [String: String]) == ["xmpp.component.domain": "push.example.com", "attempt": "2"])
        #expect(object["time"] is String)
    }
}
