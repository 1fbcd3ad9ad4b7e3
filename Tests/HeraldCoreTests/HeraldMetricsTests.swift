import CoreMetrics
import Foundation
import Testing

@testable import HeraldCore

@Suite struct HeraldMetricsTests {
    @Test func everyPublishOutcomeIsCountedFromTheStart() {
        let factory = RecordingMetricsFactory()
        _ = HeraldMetrics(factory: factory)
        let prepared = factory.counters.filter { $0.label == "herald_publishes_total" }.compactMap { $0.dimensions.first?.1 }
        #expect(Set(prepared) == Set(PublishOutcome.Kind.allCases.map(\.rawValue)))
        #expect(prepared.count == PublishOutcome.Kind.allCases.count)
    }

    @Test func aCounterIsMadeOncePerLabelSet() {
        let factory = RecordingMetricsFactory()
        let metrics = HeraldMetrics(factory: factory)
        let before = factory.counters.count
        for _ in 0..<1000 {
            metrics.vendorRequest(.apns, outcome: .delivered(id: nil), duration: .milliseconds(1))
            metrics.vendorRequest(.fcm, outcome: .retry(reason: "UNAVAILABLE", retryAfter: nil), duration: .milliseconds(1))
        }
        #expect(factory.counters.count == before + 2)
    }

    @Test func labelsAreTheSnakeCaseOfEveryKind() {
        for kind in PublishOutcome.Kind.allCases {
            #expect(kind.rawValue.allSatisfy { $0.isLowercase || $0 == "_" }, "\(kind)")
        }
        for kind in PushOutcome.Kind.allCases {
            #expect(kind.rawValue.allSatisfy { $0.isLowercase || $0 == "_" }, "\(kind)")
        }
        #expect(PushOutcome.deadToken(reason: "Unregistered").label == "dead_token")
        #expect(PublishOutcome.tokenRemoved(reason: "x").label == "token_removed")
    }
}

/// Records every metric object made, to count how often the factory is asked.
private final class RecordingMetricsFactory: MetricsFactory, @unchecked Sendable {
    struct Made { var label: String; var dimensions: [(String, String)] }
    private let lock = NSLock()
    private var made: [Made] = []

    var counters: [Made] { lock.withLock { made } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        lock.withLock { made.append(Made(label: label, dimensions: dimensions)) }
        return NOOPMetricsHandler.instance
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
