// swift-tools-version:6.2
import PackageDescription

// Dependencies point inward: HeraldCore is the domain and knows no networking; XMLStream and
// XMPPComponent are a generic XMPP component library; the vendor targets and HeraldXMPP adapt the
// domain to the outside; the `herald` executable only wires things together. ARCHITECTURE.md lists
// what each target may import, and scripts/check-imports.py holds the build to it.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    // Zero warnings, everywhere the package is built (CI included); dependencies keep their own.
    .treatAllWarnings(as: .error),
]

/// The leaf targets also keep their imports internal unless their API shows them (`public import`).
let leafSwiftSettings = swiftSettings + [.enableUpcomingFeature("InternalImportsByDefault")]

func external(_ name: String, _ package: String) -> Target.Dependency {
    .product(name: name, package: package)
}

let nioCore = external("NIOCore", "swift-nio")
let nioPosix = external("NIOPosix", "swift-nio")
let nioSSL = external("NIOSSL", "swift-nio-ssl")
let nioHTTP2 = external("NIOHTTP2", "swift-nio-http2")
let nioHPACK = external("NIOHPACK", "swift-nio-http2")
let crypto = external("Crypto", "swift-crypto")
let cryptoExtras = external("CryptoExtras", "swift-crypto")
let logging = external("Logging", "swift-log")
let serviceLifecycle = external("ServiceLifecycle", "swift-service-lifecycle")
let argumentParser = external("ArgumentParser", "swift-argument-parser")

let package = Package(
    name: "Herald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herald", targets: ["herald"]),
        .executable(name: "herald-bench", targets: ["HeraldBenchmarks"]),
        .executable(name: "herald-bench-vendor", targets: ["BenchVendor"]),
        .executable(name: "herald-fuzz", targets: ["HeraldFuzz"]),
        .library(name: "HeraldTesting", targets: ["HeraldTesting"]),
        .library(name: "MockVendors", targets: ["MockVendors"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
    ],
    targets: [
        // Leaf helpers any Herald target may use: backoff, durations, base64url, hex. No dependencies.
        .target(name: "HeraldSupport", swiftSettings: leafSwiftSettings),
        // NIO plumbing the network targets share: flush coalescing.
        .target(name: "HeraldNIO", dependencies: [nioCore], swiftSettings: swiftSettings),
        // Herald's version, commit and package versions, generated at build time (`herald --version`).
        .target(name: "HeraldBuildInfo", swiftSettings: leafSwiftSettings, plugins: ["BuildInfoPlugin"]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), dependencies: ["BuildInfoGenerator"]),
        .executableTarget(name: "BuildInfoGenerator", swiftSettings: leafSwiftSettings),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // The XMPP stream as elements, on libxml2's SAX push parser.
        .target(name: "XMLStream", dependencies: ["CLibXML2"], swiftSettings: leafSwiftSettings),
        // A generic XEP-0114 component: connection, handshake, routing, disco, ping, ad-hoc commands.
        // It knows nothing of Herald: identity, features and the reconnect policy are passed in.
        .target(
            name: "XMPPComponent",
            dependencies: ["XMLStream", "HeraldNIO", nioCore, nioPosix, crypto, logging, serviceLifecycle],
            swiftSettings: swiftSettings
        ),
        // The domain: registrations, publishes, delivery, the store and vendor protocols. No networking.
        .target(
            name: "HeraldCore",
            dependencies: ["HeraldSupport", logging, crypto, serviceLifecycle, external("CoreMetrics", "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HeraldSQLite",
            dependencies: ["HeraldCore", external("GRDB", "GRDB.swift"), external("GRDBSQLite", "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // The shared store for several instances: registrations and pending pushes in PostgreSQL.
        .target(
            name: "HeraldPostgres",
            dependencies: ["HeraldCore", external("PostgresNIO", "postgres-nio"), nioSSL, logging],
            swiftSettings: swiftSettings
        ),
        // HTTP/2 over TLS for the vendor clients, directly or through a CONNECT proxy.
        .target(
            name: "HeraldHTTP2",
            dependencies: ["HeraldSupport", "HeraldNIO", nioCore, nioPosix, nioHTTP2, nioHPACK, nioSSL, logging],
            swiftSettings: swiftSettings
        ),
        // What the vendor clients share: JWT signing, a small JSON writer, Retry-After.
        .target(name: "VendorSupport", dependencies: ["HeraldSupport", crypto, cryptoExtras], swiftSettings: leafSwiftSettings),
        .target(
            name: "APNs",
            dependencies: ["HeraldCore", "HeraldHTTP2", "VendorSupport", "HeraldSupport", crypto, nioCore, nioHPACK, nioSSL, logging],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FCM",
            dependencies: ["HeraldCore", "HeraldHTTP2", "VendorSupport", "HeraldSupport", cryptoExtras, nioCore, nioHPACK, nioSSL, logging],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WebPush",
            dependencies: [
                "HeraldCore", "VendorSupport", "HeraldSupport",
                external("AsyncHTTPClient", "async-http-client"), crypto, nioCore, external("NIOHTTP1", "swift-nio"), nioSSL, logging,
            ],
            swiftSettings: swiftSettings
        ),
        // Herald's XMPP face: its identity, registration commands in every client dialect, publishes.
        .target(
            name: "HeraldXMPP",
            dependencies: ["HeraldCore", "HeraldSupport", "XMPPComponent", "XMLStream", logging],
            swiftSettings: swiftSettings
        ),
        // The operator's HTTP face: health, readiness, Prometheus metrics, and the bearer-token API.
        .target(
            name: "HeraldAdmin",
            dependencies: [
                "HeraldCore", external("Hummingbird", "hummingbird"), external("HummingbirdCore", "hummingbird"), external("HummingbirdTLS", "hummingbird"), external("Prometheus", "swift-prometheus"),
                logging, nioCore, nioSSL, serviceLifecycle,
            ],
            swiftSettings: swiftSettings
        ),
        // Configuration and the wiring of every service: what the executable and the tests both build.
        .target(
            name: "HeraldApp",
            dependencies: [
                "APNs", "FCM", "WebPush", "HeraldCore", "HeraldSupport", "HeraldSQLite", "HeraldPostgres", "HeraldXMPP", "HeraldAdmin",
                "HeraldBuildInfo", "HeraldHTTP2", "XMLStream", "XMPPComponent", external("PostgresNIO", "postgres-nio"),
                crypto, nioSSL, logging, serviceLifecycle, external("UnixSignals", "swift-service-lifecycle"),
                external("Prometheus", "swift-prometheus"), external("CoreMetrics", "swift-metrics"), external("Yams", "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Mock APNs, FCM and Web Push servers (HTTP/2 + TLS, real JWT checks) and the example keys they
        // accept: behind `herald mock-vendor`, the tests and the benchmark.
        .target(
            name: "MockVendors",
            dependencies: ["HeraldSupport", crypto, cryptoExtras, nioCore, nioPosix, nioHTTP2, nioHPACK, nioSSL],
            swiftSettings: swiftSettings
        ),
        // What drives a Herald process from outside: child processes, free loopback ports, a throwaway
        // PostgreSQL cluster and the XEP-0114 load generator playing the XMPP server. Used by the
        // benchmark and the tests.
        .target(
            name: "HeraldHarness",
            dependencies: [crypto, nioCore, nioPosix],
            swiftSettings: swiftSettings
        ),
        // Test fixtures: real Prosody and ejabberd, fake servers, a test XMPP client, a manual clock, the
        // in-memory store. No executable links it.
        .target(
            name: "HeraldTesting",
            dependencies: [
                "HeraldCore", "HeraldSupport", "HeraldHTTP2", "HeraldHarness", "XMLStream", "XMPPComponent",
                nioCore, nioPosix, nioSSL,
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldApp", "HeraldAdmin", "HeraldBuildInfo", "HeraldCore", "HeraldSQLite", "HeraldPostgres", "FCM", "MockVendors", "XMPPComponent",
                external("PostgresNIO", "postgres-nio"), external("AsyncHTTPClient", "async-http-client"), nioCore, external("NIOHTTP1", "swift-nio"), nioPosix, crypto, cryptoExtras,
                external("UnixSignals", "swift-service-lifecycle"), argumentParser, logging,
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmarks, run in release mode (`swift run -c release herald-bench --help`); not run by the tests.
        .executableTarget(
            name: "HeraldBenchmarks",
            dependencies: [
                "HeraldCore", "HeraldSQLite", "HeraldPostgres", "HeraldHTTP2", "HeraldHarness", "HeraldNIO", "MockVendors",
                "VendorSupport", external("PostgresNIO", "postgres-nio"), crypto, nioCore, nioPosix, nioSSL, nioHTTP2, nioHPACK, argumentParser,
                logging,
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmark's vendor: APNs and FCM over HTTP/2 + TLS in C (nghttp2, OpenSSL), checking each
        // request at a fraction of the Swift mock's CPU so that Herald's own cost is what the benchmark
        // shows. Built with the tests and the benchmark; nothing of Herald links it.
        .executableTarget(
            name: "BenchVendor",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("nghttp2"), .linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // libFuzzer's driver, declared for herald-fuzz (scripts/fuzz.sh builds it with -sanitize=fuzzer).
        .target(name: "CFuzzerDriver"),
        // Fuzz targets: the stream parser, the router and its handlers, vendor answers. Built normally it
        // replays a corpus (CI does, with the inputs in Fuzz/corpus); scripts/fuzz.sh runs libFuzzer.
        .executableTarget(
            name: "HeraldFuzz",
            dependencies: [
                "CFuzzerDriver", "XMLStream", "XMPPComponent", "HeraldXMPP", "HeraldCore", "HeraldSQLite", "HeraldSupport", "APNs", "FCM",
                "VendorSupport", logging,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "HeraldSupportTests", dependencies: ["HeraldSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeraldNIOTests",
            dependencies: ["HeraldNIO", "HeraldTesting", nioCore, nioPosix, external("NIOEmbedded", "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "XMLStreamTests", dependencies: ["XMLStream"], swiftSettings: swiftSettings),
        .testTarget(
            name: "XMPPComponentTests",
            dependencies: [
                "XMPPComponent", "XMLStream", "HeraldTesting", "HeraldHarness",
                nioCore, nioPosix, external("NIOEmbedded", "swift-nio"), logging, external("InMemoryLogging", "swift-log"), serviceLifecycle,
                external("ServiceLifecycleTestKit", "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "HeraldCoreTests", dependencies: ["HeraldCore", "HeraldSupport", "HeraldTesting", logging, external("CoreMetrics", "swift-metrics")], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeraldSQLiteTests",
            dependencies: ["HeraldSQLite", "HeraldPostgres", "HeraldCore", "HeraldTesting", "HeraldHarness", external("GRDB", "GRDB.swift"), external("PostgresNIO", "postgres-nio"), logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HeraldPostgresTests",
            dependencies: ["HeraldPostgres", "HeraldCore", "HeraldHarness", "HeraldTesting", external("PostgresNIO", "postgres-nio"), logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HeraldHTTP2Tests",
            dependencies: [
                "HeraldHTTP2", "HeraldSupport", "HeraldTesting", "MockVendors",
                nioCore, external("NIOEmbedded", "swift-nio"), nioHTTP2, nioHPACK, nioPosix, nioSSL,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "VendorSupportTests", dependencies: ["VendorSupport", "HeraldSupport", crypto, cryptoExtras], swiftSettings: swiftSettings),
        .testTarget(
            name: "APNsTests",
            dependencies: ["APNs", "HeraldCore", "HeraldHTTP2", "HeraldSupport", "VendorSupport", "HeraldTesting", "HeraldHarness", "MockVendors", crypto, nioSSL, logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FCMTests",
            dependencies: ["FCM", "HeraldCore", "HeraldHTTP2", "HeraldSupport", "VendorSupport", "HeraldTesting", "MockVendors", cryptoExtras, logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebPushTests",
            dependencies: ["WebPush", "HeraldCore", "HeraldSupport", "VendorSupport", "HeraldTesting", "MockVendors", crypto, logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HeraldXMPPTests",
            dependencies: [
                "HeraldXMPP", "HeraldCore", "HeraldTesting", "XMLStream", "XMPPComponent", logging,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HeraldAdminTests",
            dependencies: [
                "HeraldAdmin", "HeraldCore", "HeraldXMPP", "HeraldTesting", external("Hummingbird", "hummingbird"),
                external("HummingbirdTesting", "hummingbird"), external("Prometheus", "swift-prometheus"), logging,
                external("NIOFoundationEssentialsCompat", "swift-nio"), nioCore, nioPosix,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "HeraldTestingTests", dependencies: ["HeraldTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "HeraldHarnessTests", dependencies: ["HeraldHarness", "HeraldTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HeraldAppTests",
            dependencies: [
                "HeraldApp", "HeraldAdmin", "HeraldBuildInfo", "HeraldTesting", "HeraldHarness", "MockVendors", "HeraldSQLite", "HeraldPostgres", "HeraldCore",
                "HeraldSupport", "HeraldXMPP", "XMPPComponent", "XMLStream", "APNs", "FCM", "HeraldHTTP2", "VendorSupport",
                external("AsyncHTTPClient", "async-http-client"), crypto, cryptoExtras, nioCore, external("NIOHTTP1", "swift-nio"), logging, serviceLifecycle, external("InMemoryLogging", "swift-log"), external("Yams", "Yams"),
                external("Prometheus", "swift-prometheus"), nioSSL,
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
