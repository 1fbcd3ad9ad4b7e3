import Testing

@testable import HeraldCore

@Suite struct VendorReasonTests {
    @Test func vendorCodesBecomeLabelsAndDescriptionsFoldIntoOther() {
        #expect(VendorReason.code("ServiceUnavailable").metricLabel == "ServiceUnavailable")
        #expect(VendorReason.code("HTTP 410").metricLabel == "HTTP 410")
        #expect(VendorReason.code("QUOTA_EXCEEDED").metricLabel == "QUOTA_EXCEEDED")
        #expect(VendorReason.unknown("connect(2) to 10.0.0.1:443 failed: errno 111").metricLabel == "other")
        #expect(VendorReason.unknown("timeout").metricLabel == "other")
    }

    @Test func aCodeAVendorFilledWithJunkDoesNotBecomeALabel() {
        #expect(VendorReason.code(String(repeating: "A", count: 41)).metricLabel == "other")
        #expect(VendorReason.code(String(repeating: "A", count: 40)).metricLabel.count == 40)
        #expect(VendorReason.code("Bad{label=\"x\"}").metricLabel == "other")
        #expect(VendorReason.code("Ünregistered").metricLabel == "other")
        #expect(VendorReason.code("line\nbreak").metricLabel == "other")
    }

    @Test func aLiteralIsACodeAndTheTextIsKeptForLogsAndReplies() {
        let literal: VendorReason = "Unregistered"
        #expect(literal == .code("Unregistered"))
        #expect(literal != .unknown("Unregistered"))
        #expect(VendorReason.unknown("connection refused").description == "connection refused")
        #expect(PushOutcome.deadToken(reason: "Unregistered").reason.description == "Unregistered")
        #expect(PushOutcome.delivered(id: nil).reason == .delivered)
    }
}
