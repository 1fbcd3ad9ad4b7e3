import Foundation
import HeraldCore
import Testing
import Yams

/// `deploy/observability/` and README.md's metrics table, held to the metrics Herald exports
/// (`MetricCatalog`, whose every entry the exporter test scrapes): a renamed metric or label fails here.
@Suite struct ObservabilityFilesTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    private static let directory = root.appendingPathComponent("deploy/observability")
    /// Labels Prometheus itself adds or histograms carry.
    private static let builtInLabels: Set<String> = ["le", "instance", "job"]

    /// The metrics and labels one PromQL expression names, checked against the catalog.
    private static func check(_ expression: String, _ place: String) {
        let names = matches(#"herald_[a-z0-9_]+"#, in: expression)
        #expect(!names.isEmpty, "\(place) names no Herald metric: \(expression)")
        var labels = builtInLabels
        for name in names {
            if let entry = MetricCatalog.entry(named: name) {
                labels.formUnion(entry.labels)
                continue
            }
            let base = name.replacing(/_(bucket|sum|count)$/, with: "")
            let entry = MetricCatalog.entry(named: base)
            #expect(entry?.kind == .histogram, "\(place): \(name) is not a metric Herald exports")
            labels.formUnion(entry?.labels ?? [])
        }
        var used: [String] = []
        for selector in matches(#"\{[^}]*\}"#, in: expression) where !selector.hasPrefix("{{") {
            used += matches(#"[a-z_]+(?=\s*(=~|!~|!=|=))"#, in: selector)
        }
        for grouping in matches(#"\b(by|without)\s*\([^)]*\)"#, in: expression) {
            let inner = grouping.drop { $0 != "(" }.dropFirst().dropLast()
            used += inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        for label in used {
            #expect(labels.contains(label), "\(place): label \(label) is not one of \(names)'s")
        }
    }

    private static func matches(_ pattern: String, in text: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } }
    }

    @Test func everyAlertRuleNamesExportedMetricsAndLabels() throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent("herald-alerts.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let groups = try #require(document["groups"] as? [[String: Any]])
        var alerts: [String] = []
        for group in groups {
            for rule in try #require(group["rules"] as? [[String: Any]]) {
                let name = try #require(rule["alert"] as? String)
                let expression = try #require(rule["expr"] as? String)
                let labels = try #require(rule["labels"] as? [String: String])
                #expect(["critical", "warning"].contains(labels["severity"]), "\(name)")
                #expect((rule["annotations"] as? [String: String])?["summary"] != nil, "\(name)")
                Self.check(expression, name)
                alerts.append(expression)
            }
        }
        // The alerts README.md recommends, each present.
        for metric in ["herald_component_connected", "herald_vendor_requests_total{status=\"credentials\"}", "herald_retry_queue_capacity", "herald_vendor_connections_retired_total"] {
            #expect(alerts.contains { $0.contains(metric) }, "no alert on \(metric)")
        }
    }

    @Test func everyDashboardQueryNamesExportedMetricsAndLabels() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("herald-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["uid"] as? String == "herald-overview")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        var named = Set<String>()
        for panel in panels {
            let title = try #require(panel["title"] as? String)
            let targets = try #require(panel["targets"] as? [[String: Any]], "\(title)")
            #expect(!targets.isEmpty, "\(title)")
            for target in targets {
                let expression = try #require(target["expr"] as? String, "\(title)")
                Self.check(expression, title)
                named.formUnion(Self.matches(#"herald_[a-z0-9_]+"#, in: expression).map { $0.replacing(/_(bucket|sum|count)$/, with: "") })
            }
        }
        let variables = try #require((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]])
        for variable in variables {
            if let query = variable["query"] as? String, query.contains("herald_") { Self.check(query, "variable") }
        }
        #expect(named == Set(MetricCatalog.all.map(\.name)), "the dashboard shows every metric; missing: \(Set(MetricCatalog.all.map(\.name)).subtracting(named))")
    }

    @Test func readmeListsExactlyTheCatalogsMetricsWithTheirLabels() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        var rows: [String: String] = [:]
        for line in readme.split(separator: "\n") where line.hasPrefix("| `herald_") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[2]
        }
        #expect(Set(rows.keys) == Set(MetricCatalog.all.map(\.name)))
        for entry in MetricCatalog.all {
            let cell = rows[entry.name] ?? ""
            let documented = Set(Self.matches(#"`[a-z0-9_]+`(?=[:,]|\s\(|$)"#, in: cell).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "`")) })
            #expect(documented.isSuperset(of: entry.labels), "README.md: \(entry.name) lists \(documented), the code has \(entry.labels)")
        }
    }
}
