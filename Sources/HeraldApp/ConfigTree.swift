import Foundation
import Yams

/// A configuration problem, phrased for an operator: which key, what is wrong, how to fix it.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public var problem: String
    public var fix: String?

    public init(key: String, problem: String, fix: String? = nil) {
        self.key = key
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        var text = "\(key): \(problem)"
        if let fix { text += " (\(fix))" }
        return text
    }
}

/// The raw configuration: the YAML file's tree with environment overrides laid over it.
///
/// Every key can be set from the environment as `HERALD_` followed by its path in capitals, path
/// segments joined by a double underscore and list items by their index:
/// `xmpp.port` → `HERALD_XMPP__PORT`, `components[0].secret` → `HERALD_COMPONENTS__0__SECRET`.
/// Any key `name` may instead be given as `name_file`, naming a file whose content is the value
/// (container secrets).
public struct ConfigTree: Sendable, Hashable {
    public indirect enum Node: Sendable, Hashable {
        case scalar(String)
        case mapping([String: Node])
        case sequence([Node])
    }

    public static let environmentPrefix = "HERALD_"

    public private(set) var root: Node

    public init(root: Node = .mapping([:])) {
        self.root = root
    }

    /// Parses YAML text.
    public init(yaml: String) throws(ConfigurationError) {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                self.init()
                return
            }
            self.init(root: try Self.convert(node, path: ""))
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(key: "(file)", problem: "is not valid YAML: \(error)")
        }
    }

    private static func convert(_ node: Yams.Node, path: String) throws(ConfigurationError) -> Node {
        switch node {
        case .scalar(let scalar):
            return .scalar(scalar.string)
        case .mapping(let mapping):
            var result: [String: Node] = [:]
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw ConfigurationError(key: path, problem: "has a key that is not text")
                }
                result[name] = try convert(value, path: path.isEmpty ? name : "\(path).\(name)")
            }
            return .mapping(result)
        case .sequence(let sequence):
            var items: [Node] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, path: "\(path)[\(index)]"))
            }
            return .sequence(items)
        case .alias:
            throw ConfigurationError(key: path, problem: "uses a YAML alias", fix: "write the value out")
        }
    }

    /// Lays `HERALD_*` variables over the tree.
    /// `HTTPS_PROXY` and `NO_PROXY` (or their lowercase forms), as every HTTP tool reads them: they set
    /// `vendors.proxy` and `vendors.no_proxy` where the file does not, below `HERALD_VENDORS__PROXY`.
    public mutating func applyProxyVariables(_ environment: [String: String]) throws(ConfigurationError) {
        let vendors = try? section.section("vendors")
        if let proxy = environment["HTTPS_PROXY"] ?? environment["https_proxy"], !proxy.isEmpty, vendors?.contains("proxy") != true {
            try applyOverrides([("vendors.proxy", proxy)])
        }
        if let noProxy = environment["NO_PROXY"] ?? environment["no_proxy"], !noProxy.isEmpty, vendors?.contains("no_proxy") != true {
            try applyOverrides([("vendors.no_proxy", noProxy)])
        }
    }

    public mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigurationError) {
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(Self.environmentPrefix) {
            let path = name.dropFirst(Self.environmentPrefix.count)
                .components(separatedBy: "__")
                .map { $0.lowercased() }
            guard !path.contains(where: \.isEmpty) else { continue }
            root = try Self.setting(root, path: path[...], to: value, key: name)
        }
    }

    /// Lays command-line settings over the tree: `admin.port=9000`, `components.0.secret=...`.
    /// They win over the file and the environment.
    public mutating func applyOverrides(_ overrides: [(key: String, value: String)]) throws(ConfigurationError) {
        for (key, value) in overrides {
            let path = key.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
                .split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { continue }
            root = try Self.setting(root, path: path[...], to: value, key: key)
        }
    }

    /// List indexes a setting may name: a list is filled up to its index, so an index must stay small.
    static let indexes = 0..<1000

    private static func setting(_ node: Node, path: ArraySlice<String>, to value: String, key: String) throws(ConfigurationError) -> Node {
        guard let head = path.first else { return .scalar(value) }
        let rest = path.dropFirst()
        if let index = Int(head) ?? (head.allSatisfy(\.isNumber) || head.hasPrefix("-") ? Int.max : nil) {
            guard indexes.contains(index) else {
                throw ConfigurationError(key: key, problem: "uses list index \(head)", fix: "use an index from 0 to \(indexes.upperBound - 1)")
            }
            var items: [Node] = if case .sequence(let existing) = node { existing } else { [] }
            while items.count <= index { items.append(.mapping([:])) }
            items[index] = try setting(items[index], path: rest, to: value, key: key)
            return .sequence(items)
        }
        var mapping: [String: Node] = if case .mapping(let existing) = node { existing } else { [:] }
        mapping[head] = try setting(mapping[head] ?? .mapping([:]), path: rest, to: value, key: key)
        return .mapping(mapping)
    }

    /// The environment variable that sets `key` (for messages).
    public static func environmentName(for key: String) -> String {
        environmentPrefix
            + key.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
            .split(separator: ".").map { $0.uppercased() }.joined(separator: "__")
    }

    public var section: ConfigSection { ConfigSection(node: root, path: "") }
}

/// A view of one mapping in the tree, with typed accessors whose errors name the full key.
public struct ConfigSection: Sendable {
    let node: ConfigTree.Node
    public let path: String

    init(node: ConfigTree.Node, path: String) {
        self.node = node
        self.path = path
    }

    private func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    private var mapping: [String: ConfigTree.Node] {
        if case .mapping(let mapping) = node { mapping } else { [:] }
    }

    public func contains(_ name: String) -> Bool { mapping[name] != nil || mapping[name + "_file"] != nil }

    public func section(_ name: String) throws(ConfigurationError) -> ConfigSection {
        switch mapping[name] {
        case nil: return ConfigSection(node: .mapping([:]), path: key(name))
        case .mapping?: return ConfigSection(node: mapping[name]!, path: key(name))
        default: throw ConfigurationError(key: key(name), problem: "must be a mapping of keys to values")
        }
    }

    public func list(_ name: String) throws(ConfigurationError) -> [ConfigSection] {
        switch mapping[name] {
        case nil: return []
        case .sequence(let items)?:
            var sections: [ConfigSection] = []
            for (index, item) in items.enumerated() {
                guard case .mapping = item else {
                    throw ConfigurationError(key: "\(key(name))[\(index)]", problem: "must be a mapping of keys to values")
                }
                sections.append(ConfigSection(node: item, path: "\(key(name))[\(index)]"))
            }
            return sections
        default:
            throw ConfigurationError(key: key(name), problem: "must be a list")
        }
    }

    /// A list of plain values, or one comma-separated value (convenient from the environment).
    public func stringList(_ name: String) -> [String] {
        switch mapping[name] {
        case nil: return []
        case .scalar(let value)?:
            return value.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .sequence(let items)?:
            return items.compactMap { if case .scalar(let value) = $0 { value } else { nil } }
        case .mapping(let items)?:
            return items.keys.sorted().compactMap { if case .scalar(let value)? = items[$0] { value } else { nil } }
        }
    }

    /// A text value, read from `name_file` if that is given instead.
    public func string(_ name: String) throws(ConfigurationError) -> String? {
        if case .scalar(let path)? = mapping[name + "_file"] {
            guard mapping[name] == nil else {
                throw ConfigurationError(key: key(name), problem: "is given both directly and as \(name)_file", fix: "keep one")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(key: key(name + "_file"), problem: "cannot read \(path)", fix: "check the path and its permissions")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        switch mapping[name] {
        case nil: return nil
        case .scalar(let value)?: return value
        default: throw ConfigurationError(key: key(name), problem: "must be a single value")
        }
    }

    public func string(_ name: String, default defaultValue: String) throws(ConfigurationError) -> String {
        ConfigurationDefaults.record(key(name), defaultValue)
        return try string(name) ?? defaultValue
    }

    public func requiredString(_ name: String, fix: String? = nil) throws(ConfigurationError) -> String {
        guard let value = try string(name), !value.isEmpty else {
            throw ConfigurationError(
                key: key(name),
                problem: "is required",
                fix: fix ?? "set it in the file or as \(ConfigTree.environmentName(for: key(name)))"
            )
        }
        return value
    }

    public func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>? = nil) throws(ConfigurationError) -> Int {
        ConfigurationDefaults.record(key(name), "\(defaultValue)")
        guard let text = try string(name) else { return defaultValue }
        guard let value = Int(text) else {
            throw ConfigurationError(key: key(name), problem: "must be a whole number, not '\(text)'")
        }
        if let range, !range.contains(value) {
            throw ConfigurationError(key: key(name), problem: "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    /// A duration written as a number with a unit: `500ms`, `10s`, `5m`, `1h`.
    public func duration(_ name: String, default defaultValue: Duration) throws(ConfigurationError) -> Duration {
        ConfigurationDefaults.record(key(name), ConfigurationDefaults.text(of: defaultValue))
        guard let text = try string(name)?.trimmingCharacters(in: .whitespaces) else { return defaultValue }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            if let number = Double(text.dropLast(unit.count)), number >= 0 {
                // A year at most: larger values (1e300s, inf) would not fit a Duration.
                guard number.isFinite, number * seconds <= 366 * 86_400 else {
                    throw ConfigurationError(key: key(name), problem: "is longer than a year: '\(text)'")
                }
                return .milliseconds(Int64((number * seconds * 1000).rounded()))
            }
        }
        throw ConfigurationError(key: key(name), problem: "must be a duration such as 500ms, 10s, 5m or 1h, not '\(text)'")
    }

    public func positiveDuration(_ name: String, default defaultValue: Duration) throws(ConfigurationError) -> Duration {
        let value = try duration(name, default: defaultValue)
        guard value > .zero else { throw ConfigurationError(key: key(name), problem: "must be greater than zero") }
        return value
    }

    public func bool(_ name: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        ConfigurationDefaults.record(key(name), "\(defaultValue)")
        guard let text = try string(name) else { return defaultValue }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError(key: key(name), problem: "must be true or false, not '\(text)'")
        }
    }

    public func oneOf(_ name: String, _ choices: [String], default defaultValue: String) throws(ConfigurationError) -> String {
        let value = try string(name, default: defaultValue)
        guard choices.contains(value) else {
            throw ConfigurationError(key: key(name), problem: "must be one of \(choices.joined(separator: ", ")), not '\(value)'")
        }
        return value
    }
}
