import CoreMetrics
import Foundation
import Testing

@testable import HeraldCore

@Suite struct HeraldMetricsTests {
    @Test func everyPublishOutcomeOfEveryAppIsCountedFromTheStart() {
        let factory = RecordingMetricsFactory()
        _ = HeraldMetrics(factory: factory, apps: ["chat", "mail"])
        let prepared = factory.counters.filter { $0.label == "herald_publishes_total" }.map { made in
            made.dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        }
        let expected = ["chat", "mail", MetricCatalog.noApp].flatMap { app in
            PublishOutcome.Kind.allCases.map { "app=\(app),outcome=\($0.rawValue)" }
        }
        #expect(Set(prepared) == Set(expected))
        #expect(prepared.count == expected.count)
    }

    @Test func aPublishCountsUnderItsAppOrUnderNoneWhenNoRegistrationWasFound() {
        let factory = RecordingMetricsFactory()
        let metrics = HeraldMetrics(factory: factory, apps: ["chat"])
        let before = factory.counters.count
        metrics.publishAnswered(.delivered, app: "chat", duration: .milliseconds(1))
        metrics.publishAnswered(.unknownNode, app: nil, duration: .milliseconds(1))
        #expect(factory.counters.count == before, "both counters were made up front")
        // An app that was not configured at start (none is, but a stored registration may name one).
        metrics.publishAnswered(.delivered, app: "removed-app", duration: .milliseconds(1))
        #expect(factory.counters.last?.dimensions.map(\.1) == ["removed-app", "delivered"])
    }

    @Test func everyMetricInTheCatalogHasHelpAndLabelsInSnakeCase() {
        #expect(Set(MetricCatalog.all.map(\.name)).count == MetricCatalog.all.count)
        for entry in MetricCatalog.all {
            #expect(entry.name.hasPrefix("herald_"), "\(entry.name)")
            #expect(entry.help.count > 10 && !entry.help.contains("\n"), "\(entry.name)")
            for label in entry.labels { #expect(label.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(entry.name) \(label)") }
            #expect(entry.kind != .counter || entry.name.hasSuffix("_total"), "\(entry.name)")
        }
    }

    @Test func aCounterIsMadeOncePerLabelSet() {
        let factory = RecordingMetricsFactory()
        let metrics = HeraldMetrics(factory: factory)
        let before = factory.counters.count
        for _ in 0..<1000 {
            metrics.vendorRequest(.apns, app: "chat", outcome: .delivered(id: nil), duration: .milliseconds(1))
            metrics.vendorRequest(.fcm, app: "chat", outcome: .retry(reason: "UNAVAILABLE", retryAfter: nil), duration: .milliseconds(1))
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
