/// Which Herald this is: its release version, the commit it was built from and the versions of the
/// packages it was built with (from `Package.resolved`), for `herald --version` and `herald_build_info`.
public struct BuildInfo: Sendable {
    /// Herald's release version; raised with each release (README.md "Upgrading").
    public static let releaseVersion = "0.9.0"

    public struct Package: Sendable, Hashable {
        public var identity: String
        public var version: String

        public init(identity: String, version: String) {
            self.identity = identity
            self.version = version
        }
    }

    public var version: String
    /// The commit hash, `-dirty`-free (the build cannot see the work tree), or `unknown` outside a git checkout.
    public var commit: String
    public var packages: [Package]

    public init(version: String, commit: String, packages: [Package]) {
        self.version = version
        self.commit = commit
        self.packages = packages
    }

    public static let current = BuildInfo(
        version: releaseVersion,
        commit: GeneratedBuildInfo.commit,
        packages: GeneratedBuildInfo.packages.map { Package(identity: $0.0, version: $0.1) }
    )

    public func version(of identity: String) -> String {
        packages.first { $0.identity == identity }?.version ?? "unknown"
    }

    /// The labels of `herald_build_info`: Herald's version and commit, and the packages its network and
    /// crypto code come from (where security fixes arrive).
    public var metricLabels: [(String, String)] {
        [
            ("version", version), ("commit", commit),
            ("swift_nio", version(of: "swift-nio")), ("swift_nio_ssl", version(of: "swift-nio-ssl")),
            ("swift_nio_http2", version(of: "swift-nio-http2")), ("swift_crypto", version(of: "swift-crypto")),
        ]
    }

    /// `herald --version`: the version and commit on the first line, then one package per line.
    public var versionText: String {
        (["herald \(version) (commit \(commit))"] + packages.map { "  \($0.identity) \($0.version)" })
            .joined(separator: "\n")
    }
}
