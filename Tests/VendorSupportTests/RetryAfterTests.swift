import Foundation
import Testing

@testable import VendorSupport

@Suite struct RetryAfterTests {
    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
    let example = Date(timeIntervalSince1970: 784_111_777)

    @Test func secondsAreTakenAsTheyAreWithinBounds() {
        #expect(RetryAfter.parse("120", now: example) == .seconds(120))
        #expect(RetryAfter.parse(" 0 ", now: example) == .zero)
        #expect(RetryAfter.parse("99999999", now: example) == RetryAfter.maximum)
    }

    @Test(arguments: ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"])
    func everyHTTPDateFormatNamesTheSameInstant(text: String) {
        #expect(RetryAfter.httpDate(text) == example)
        #expect(RetryAfter.parse(text, now: example.addingTimeInterval(-90)) == .seconds(90))
    }

    @Test func aDateInThePastIsNoWaitAndOneFarAheadIsBounded() {
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: example.addingTimeInterval(10)) == .zero)
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: example) == RetryAfter.maximum)
    }

    @Test func datesAcrossLeapYearsAndCenturies() {
        #expect(RetryAfter.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == Date(timeIntervalSince1970: 0))
        #expect(RetryAfter.httpDate("Tue, 29 Feb 2000 12:00:00 GMT") == Date(timeIntervalSince1970: 951_825_600))
        #expect(RetryAfter.httpDate("Wed, 02 Dec 2026 06:00:00 GMT") == Date(timeIntervalSince1970: 1_796_191_200))
    }

    @Test(arguments: ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 32 Nov 1994 08:49:37 GMT",
                      "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49 GMT",
                      String(repeating: "9", count: 13), String(repeating: "Sun, ", count: 20)])
    func garbleIsNoAnswer(text: String) {
        #expect(RetryAfter.parse(text, now: example) == nil)
    }
}
