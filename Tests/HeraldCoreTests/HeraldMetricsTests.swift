import Testing

@testable import HeraldCore

@Suite struct HeraldMetricsTests {
    @Test func vendorReasonCodesBecomeLabelsAndAnythingElseFoldsIntoOther() {
        #expect(HeraldMetrics.boundedReason(.retry(reason: "ServiceUnavailable", retryAfter: nil)) == "ServiceUnavailable")
        #expect(HeraldMetrics.boundedReason(.deadToken(reason: "HTTP 410")) == "HTTP 410")
        #expect(HeraldMetrics.boundedReason(.retry(reason: "connect(2) to 10.0.0.1:443 failed: errno 111", retryAfter: nil)) == "other")
        #expect(HeraldMetrics.boundedReason(.rejected(reason: String(repeating: "A", count: 41))) == "other")
    }

    @Test func everyPublishOutcomeHasAPreparedCounter() {
        let outcomes: [PublishOutcome] = [
            .delivered, .unknownNode, .forbidden, .tokenRemoved(reason: "x"), .retrying(reason: "x"), .notDelivered(reason: "x"),
            .unconfirmed(reason: "x"), .overloaded, .failed(reason: "x"),
        ]
        #expect(Set(outcomes.map(\.metricLabel)) == Set(PublishOutcome.metricLabels))
    }
}
