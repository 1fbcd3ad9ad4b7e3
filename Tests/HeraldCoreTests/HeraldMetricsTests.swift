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

    @Test func aPublishDurationGoesToItsAppsTimerMadeUpFront() {
        let factory = RecordingMetricsFactory()
        let metrics = HeraldMetrics(factory: factory, apps: ["chat"])
        let prepared = factory.timers.filter { $0.label == "herald_publish_duration_seconds" }
        #expect(prepared.map { $0.dimensions.map(\.1) } == [["chat"], [MetricCatalog.noApp]])
        metrics.publishAnswered(.delivered, app: "chat", duration: .milliseconds(3))
        metrics.publishAnswered(.retrying(reason: "queued"), app: "chat", duration: .microseconds(5))
        metrics.publishAnswered(.unknownNode, app: nil, duration: .milliseconds(1))
        #expect(factory.timers.count == prepared.count, "no timer made per publish")
        #expect(prepared[0].values == [3_000_000, 5_000])
        #expect(prepared[1].values == [1_000_000])
        metrics.publishAnswered(.delivered, app: "removed-app", duration: .milliseconds(2))
        #expect(factory.timers.last?.dimensions.map(\.1) == ["removed-app"])
        #expect(factory.timers.last?.values == [2_000_000])
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

    private var madeTimers: [RecordingTimer] = []

    var counters: [Made] { lock.withLock { made } }
    var timers: [RecordingTimer] { lock.withLock { madeTimers } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        lock.withLock { made.append(Made(label: label, dimensions: dimensions)) }
        return NOOPMetricsHandler.instance
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let timer = RecordingTimer(label: label, dimensions: dimensions)
        lock.withLock { madeTimers.append(timer) }
        return timer
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

private final class RecordingTimer: TimerHandler, @unchecked Sendable {
    let label: String
    let dimensions: [(String, String)]
    private let lock = NSLock()
    private var recorded: [Int64] = []

    init(label: String, dimensions: [(String, String)]) {
        self.label = label
        self.dimensions = dimensions
    }

    var values: [Int64] { lock.withLock { recorded } }
    func recordNanoseconds(_ duration: Int64) { lock.withLock { recorded.append(duration) } }
}
