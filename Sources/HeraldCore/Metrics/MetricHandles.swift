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
        handle(\.counters, Key(label, dimensions)) { Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        handle(\.timers, Key(label, dimensions)) { CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    func gauge(_ label: String, _ dimensions: [(String, String)]) -> Gauge {
        handle(\.gauges, Key(label, dimensions)) { Gauge(label: label, dimensions: dimensions, factory: factory) }
    }

    /// The handle for `key`, made outside the lock the first time (the factory takes locks of its own);
    /// if two callers race, the first one stored wins and both use it.
    private func handle<Handle: Sendable>(_ column: WritableKeyPath<Table, [Key: Handle]>, _ key: Key, make: () -> Handle) -> Handle {
        if let existing = table.withLock({ $0[keyPath: column][key] }) { return existing }
        let made = make()
        return table.withLock { table in
            if let existing = table[keyPath: column][key] { return existing }
            table[keyPath: column][key] = made
            return made
        }
    }
}
