import ArgumentParser
import Foundation
import HeraldHarness
import HeraldNIO
import MockVendors
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import VendorSupport

/// What a publish costs on the stack Herald is built on, with nothing of Herald in it, in two halves:
/// - the vendor half: requests shaped as Herald's APNs requests (the same headers, indexed the same way,
///   a body of about the same size) written straight to NIO HTTP/2 over NIO SSL;
/// - the component half: the load generator's publishes to an echo component, which finds each iq by
///   scanning bytes and answers it at once on NIO.
/// Each with a window in flight or at a fixed rate, as `path` loads Herald. While Herald is built on these
/// libraries its CPU per publish cannot fall below the sum; `path` reports what Herald spends on the whole.
struct FloorBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor",
        abstract: "Measure the CPU per publish of the stack Herald is built on, with nothing of Herald in it."
    )

    @Option(
        help: """
            Connections to the vendor. Default: 2 with a window, Herald's default, which a backlog spreads over; 1 at \
            a rate, since Herald sends what one read brought on the connection of the loop that read it.
            """
    ) var connections: Int?
    @Option(help: "Requests in flight over all connections (window mode).") var window = 1000
    @Option(help: "Requests per second over all connections, sent every millisecond (rate mode, instead of a window).") var rate: Int?
    @Option(help: "Seconds measured, after one second of warm-up.") var seconds = 5

    /// Two connections ticking on two loops at a steady rate cost each request a second write and
    /// wake-up that Herald's requests at that rate do not pay (40–42 µs per request against 26–30 at 5,000/s, measured alternately).
    var vendorConnections: Int { connections ?? (rate == nil ? 2 : 1) }

    func validate() throws {
        guard (1...64).contains(vendorConnections) else { throw ValidationError("--connections must be 1...64") }
        guard (1...100_000).contains(window) else { throw ValidationError("--window must be 1...100000") }
        guard (1...120).contains(seconds) else { throw ValidationError("--seconds must be 1...120") }
        if let rate, !(1...1_000_000).contains(rate) { throw ValidationError("--rate must be 1...1000000") }
    }

    func run() async throws {
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("herald-floor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workspace) }
        let load = rate.map { "\($0)/s" } ?? "window \(window)"
        var report = Report(title: "The stack alone, \(load), \(seconds) s")
        let vendor = try await vendorHalf(workspace: workspace)
        add(vendor, as: "vendor half: NIO HTTP/2 + NIO SSL, \(vendorConnections) connection\(vendorConnections == 1 ? "" : "s")", per: "request", peer: "bench vendor", key: "vendor_half", to: &report)
        let component = try await componentHalf(workspace: workspace)
        add(component, as: "component half: NIO reading publishes, writing replies", per: "publish", peer: "generator", key: "component_half", to: &report)
        let floor = vendor.cpuMicroseconds + component.cpuMicroseconds
        report.add(
            "both halves", "\(format(floor, decimals: 1)) µs per publish, before parsing XML or anything of Herald's",
            key: "floor_cpu_us_per_publish", floor
        )
        report.print()
    }

    /// One half's rate, its CPU per request and its peer's (the bench vendor, or the load generator), and
    /// the time from a request's write to its answer.
    typealias HalfFigures = (rate: Double, cpuMicroseconds: Double, peerMicroseconds: Double, p50: Double, p99: Double)

    private func add(_ half: HalfFigures, as label: String, per unit: String, peer: String, key: String, to report: inout Report) {
        report.add(
            label,
            "\(format(half.rate))/s, \(format(half.cpuMicroseconds, decimals: 1)) µs per \(unit) (\(peer) \(format(half.peerMicroseconds, decimals: 1)) µs),"
                + " p50 \(format(half.p50, decimals: 2)) ms, p99 \(format(half.p99, decimals: 2)) ms",
            key: key,
            [
                "per_second": half.rate, "cpu_us": half.cpuMicroseconds, "peer_cpu_us": half.peerMicroseconds,
                "p50_ms": half.p50, "p99_ms": half.p99,
            ]
        )
    }

    /// Requests shaped as Herald's APNs requests, straight to NIO HTTP/2 over NIO SSL.
    private func vendorHalf(workspace: URL) async throws -> HalfFigures {
        let portFile = workspace.appendingPathComponent("vendor.port").path
        let vendor = try BenchVendor.start(portFile: portFile, statsFile: workspace.appendingPathComponent("vendor-stats.json").path, workspace: workspace)
        defer { vendor.process.terminate() }
        guard let port = await waitForFile(portFile).flatMap({ Int($0) }) else { throw BenchmarkError("bench vendor did not start") }

        let request = try FloorRequest.make(authority: "127.0.0.1:\(port)")
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ExampleKeys.tlsCertificatePath)
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        var channels: [any Channel] = []
        defer { for channel in channels { channel.close(promise: nil) } }
        let connections = vendorConnections
        for index in 0..<connections {
            let share = rate.map { FloorLoad.rate(perMillisecond: Double($0) / 1000 / Double(connections)) }
                ?? .window(window / connections + (index < window % connections ? 1 : 0))
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                        // As Herald's vendor connections: what is written between flushes reaches TLS as one buffer.
                        try sync.addHandler(WriteCoalescingHandler())
                        try sync.addHandler(NIOHTTP2Handler(
                            mode: .client,
                            initialSettings: [
                                HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
                                HTTP2Setting(parameter: .initialWindowSize, value: 1 << 24),
                            ],
                            headerBlockValidation: .disabled  // as Herald's vendor connections
                        ))
                        try sync.addHandler(FloorHandler(request: request, load: share))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            channels.append(channel)
        }

        /// The connections' counts, and the latencies of the answers since `marks` (each connection's
        /// count of answers timed, as an earlier snapshot returned it).
        func snapshot(since marks: [Int]? = nil) async throws -> (completed: Int, failed: Int, latencies: [UInt64], marks: [Int]) {
            var total = (completed: 0, failed: 0, latencies: [UInt64](), marks: [Int]())
            for (index, channel) in channels.enumerated() {
                let counted = try await channel.eventLoop.submit {
                    let handler = try channel.pipeline.syncOperations.handler(type: FloorHandler.self)
                    let from = marks?[index] ?? handler.latencies.count
                    return (handler.completed, handler.failed, Array(handler.latencies[from...]), handler.latencies.count)
                }.get()
                total.completed += counted.0
                total.failed += counted.1
                total.latencies += counted.2
                total.marks.append(counted.3)
            }
            return total
        }

        try await Task.sleep(for: .seconds(1))
        let before = try await snapshot()
        let ownBefore = ProcessStats(pid: getpid())
        let vendorBefore = ProcessStats(pid: vendor.process.pid)
        let started = ContinuousClock.now
        try await Task.sleep(for: .seconds(seconds))
        let after = try await snapshot(since: before.marks)
        let elapsed = (ContinuousClock.now - started).seconds
        let own = ProcessStats(pid: getpid()).cpuSeconds - ownBefore.cpuSeconds
        let vendorCPU = ProcessStats(pid: vendor.process.pid).cpuSeconds - vendorBefore.cpuSeconds
        await vendor.process.stop()
        let completed = after.completed - before.completed
        guard completed > 0 else { throw BenchmarkError("the vendor answered no request") }
        if after.failed > 0 { throw BenchmarkError("the vendor refused \(after.failed) requests") }
        // Percentiles reports in milliseconds when fed microseconds.
        let latencies = Percentiles(after.latencies.map { $0 / 1000 })
        return (Double(completed) / elapsed, own / Double(completed) * 1e6, vendorCPU / Double(completed) * 1e6, latencies.value(0.5), latencies.value(0.99))
    }

    /// The load generator's publishes to an echo component in a process of its own (this binary's
    /// `echo-component`), which answers each at once: NIO's reads and writes on the component connection.
    private func componentHalf(workspace: URL) async throws -> HalfFigures {
        let generator = try await LoadGenerator.start(secret: "floor-component-secret", publishSecret: "floor-publish-secret")
        defer { Task { await generator.stop() } }
        let echo = try ChildProcess(
            path: CommandLine.arguments[0],
            arguments: ["echo-component", "--port", String(generator.port), "--domain", "push.bench", "--secret", generator.secret],
            logPath: workspace.appendingPathComponent("echo.log").path
        )
        defer { echo.terminate() }
        guard await generator.waitForHandshake(timeout: .seconds(30)) != nil else { throw BenchmarkError("the echo component did not connect") }
        _ = try await generator.run(.init(publishes: 2000, window: 100, registrations: 1000, timeLimit: .seconds(60)))
        let echoBefore = ProcessStats(pid: echo.pid)
        let ownBefore = ProcessStats(pid: getpid())
        let result = try await generator.run(.init(
            publishes: (rate ?? 30_000) * seconds, window: rate == nil ? window : nil, rate: rate, registrations: 1000,
            timeLimit: .seconds(seconds * 3)
        ))
        let echoCPU = ProcessStats(pid: echo.pid).cpuSeconds - echoBefore.cpuSeconds
        let own = ProcessStats(pid: getpid()).cpuSeconds - ownBefore.cpuSeconds
        await echo.stop()
        guard result.results > 0, result.unexpected == 0 else { throw BenchmarkError("the echo component's replies were not all results") }
        let replies = Double(result.results)
        let latencies = Percentiles(result.latenciesNanoseconds.map { $0 / 1000 })
        return (replies / result.seconds, echoCPU / replies * 1e6, own / replies * 1e6, latencies.value(0.5), latencies.value(0.99))
    }
}

/// One APNs request as Herald writes it for the benchmark's publishes.
struct FloorRequest {
    var headers: HPACKHeaders
    var body: ByteBuffer

    static func make(authority: String) throws -> FloorRequest {
        let jwt = try JWT.sign(
            header: #"{"alg":"ES256","kid":"\#(ExampleKeys.apnsKeyID)"}"#,
            claims: #"{"iss":"\#(ExampleKeys.apnsTeamID)","iat":\#(Int(Date().timeIntervalSince1970))}"#,
            with: .es256(try ExampleKeys.apnsKey())
        )
        var headers = HPACKHeaders()
        headers.add(name: ":method", value: "POST")
        headers.add(name: ":scheme", value: "https")
        headers.add(name: ":authority", value: authority)
        headers.add(name: ":path", value: "/3/device/" + String(repeating: "ab", count: 32), indexing: .nonIndexable)
        for (name, value) in [("apns-push-type", "alert"), ("apns-priority", "10"), ("apns-topic", "org.example.bench"), ("content-type", "application/json"), ("authorization", "bearer " + jwt)] {
            headers.add(name: name, value: value)
        }
        headers.add(name: "apns-expiration", value: "0", indexing: .nonIndexable)
        headers.add(name: "apns-id", value: UUID().uuidString.lowercased(), indexing: .nonIndexable)
        let body = #"{"aps":{"alert":{"title":"New message","body":"You have a new message"},"mutable-content":1,"sound":"default"}}"#
        return FloorRequest(headers: headers, body: ByteBuffer(string: body))
    }
}

enum FloorLoad {
    case window(Int)
    case rate(perMillisecond: Double)
}

/// Keeps its share of the load on one connection: a new stream for every answer (window), or a tick's
/// worth of streams every millisecond (rate). Writes are flushed once per read burst or tick.
final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let request: FloorRequest
    private let load: FloorLoad
    private var nextStreamID = HTTP2StreamID(1)
    private var sent = 0
    private var sentAt: [HTTP2StreamID: UInt64] = [:]
    /// Each answered request's time from its write to its answer, in nanoseconds, in order of answers.
    private(set) var latencies: [UInt64] = []
    private var tick: RepeatedTask?
    private(set) var completed = 0
    private(set) var failed = 0

    init(request: FloorRequest, load: FloorLoad) {
        self.request = request
        self.load = load
    }

    func channelActive(context: ChannelHandlerContext) {
        switch load {
        case .window(let size):
            for _ in 0..<size { send(context: context) }
            context.flush()
        case .rate(let perMillisecond):
            // What is owed is counted from the start, so that late ticks catch up instead of lowering the rate.
            let started = NIODeadline.now()
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            tick = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                let (handler, context) = bound.value
                let owed = Int(Double((NIODeadline.now() - started).nanoseconds) / 1e6 * perMillisecond)
                while handler.sent < owed { handler.send(context: context) }
                context.flush()
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        tick?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if headers.headers.first(name: ":status") != "200" { failed += 1 }
            if headers.endStream { finished(frame.streamID, context: context) }
        case .data(let data):
            if data.endStream { finished(frame.streamID, context: context) }
        case .rstStream:
            failed += 1
            finished(frame.streamID, context: context)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    private func finished(_ streamID: HTTP2StreamID, context: ChannelHandlerContext) {
        completed += 1
        if let started = sentAt.removeValue(forKey: streamID) { latencies.append(NIODeadline.now().uptimeNanoseconds - started) }
        if case .window = load { send(context: context) }
    }

    private func send(context: ChannelHandlerContext) {
        let streamID = nextStreamID
        nextStreamID = HTTP2StreamID(Int32(streamID) + 2)
        sent += 1
        sentAt[streamID] = NIODeadline.now().uptimeNanoseconds
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: request.headers, endStream: false)))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(request.body), endStream: true)))), promise: nil)
    }
}

/// Connects an echo component (which answers every iq at once) and runs until it is stopped: the
/// component half of `floor`, in a process of its own so that its CPU is measured apart.
struct EchoComponentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-component", abstract: "An echo component, for `floor`.", shouldDisplay: false)

    @Option var port: Int
    @Option var domain: String
    @Option var secret: String

    func run() async throws {
        let echo = try await EchoComponent.connect(port: port, domain: domain, secret: secret)
        // Bounded: `floor` stops it long before, by its pid.
        try await Task.sleep(for: .seconds(600))
        await echo.stop()
    }
}
