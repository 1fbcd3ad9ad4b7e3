import CoreMetrics
import Synchronization

/// Metric objects made once per name and label set, then reused: making one asks the factory (a lock
/// and a lookup in Prometheus's registry) and allocates, which a publish should not pay every time.
///
/// Label values are bounded where they are chosen (vendor, outcome, bounded reasons), so the table is
/// bounded too.
final class MetricHandles: Sendable {
    private struct Key: Hashable {
        var label: String
        var dimensions: [String]

        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
        }
    }

    private struct Table: Sendable {
        var counters: [Key: Counter] = [:]
        var timers: [Key: CoreMetrics.Timer] = [:]
        var gauges: [Key: Gauge] = [:]
    }

    private let factory: any MetricsFactory
    private let table = Mutex(Table())

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = Key(label, dimensions)
        if let counter = table.withLock({ $0.counters[key] }) { return counter }
        let counter = Counter(label: label, dimensions: dimensions, factory: factory)
        return table.withLock { table in
            if let existing = table.counters[key] { return existing }
            table.counters[key] = counter
            return counter
        }
    }

    func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        let key = Key(label, dimensions)
        if let timer = table.withLock({ $0.timers[key] }) { return timer }
        let timer = CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory)
        return table.withLock { table in
            if let existing = table.timers[key] { return existing }
            table.timers[key] = timer
            return timer
        }
    }

    func gauge(_ label: String, _ dimensions: [(String, String)]) -> Gauge {
        let key = Key(label, dimensions)
        if let gauge = table.withLock({ $0.gauges[key] }) { return gauge }
        let gauge = Gauge(label: label, dimensions: dimensions, factory: factory)
        return table.withLock { table in
            if let existing = table.gauges[key] { return existing }
            table.gauges[key] = gauge
            return gauge
        }
    }
}
