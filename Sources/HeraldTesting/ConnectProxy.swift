import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An HTTP CONNECT proxy on loopback, as corporate networks run: it reads `CONNECT host:port`, checks
/// `Proxy-Authorization` when told to, opens the tunnel and relays bytes both ways. Records each
/// tunnel asked for, so a test can tell a connection went through it.
public final class ConnectProxy: Sendable {
    public struct Tunnel: Sendable, Hashable {
        public var target: String
        public var authorization: String?
        /// The status the proxy answered.
        public var status: Int

        public init(target: String, authorization: String?, status: Int) {
            self.target = target
            self.authorization = authorization
            self.status = status
        }
    }

    public let port: Int
    private let channel: any Channel
    private let state: State

    final class State: Sendable {
        let requiredAuthorization: String?
        let refuseWith: Int?
        let tunnels = Mutex<[Tunnel]>([])
        let relayedBytes = ByteCounter()

        init(requiredAuthorization: String?, refuseWith: Int?) {
            self.requiredAuthorization = requiredAuthorization
            self.refuseWith = refuseWith
        }
    }

    /// `requiredAuthorization`: the `Proxy-Authorization` value to demand (407 otherwise);
    /// `refuseWith`: a status to answer every CONNECT with instead of opening the tunnel.
    public static func start(
        requiredAuthorization: String? = nil,
        refuseWith: Int? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ConnectProxy {
        let state = State(requiredAuthorization: requiredAuthorization, refuseWith: refuseWith)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectRequestHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ConnectProxy(port: channel.localAddress?.port ?? 0, channel: channel, state: state)
    }

    private init(port: Int, channel: any Channel, state: State) {
        self.port = port
        self.channel = channel
        self.state = state
    }

    public var tunnels: [Tunnel] { state.tunnels.withLock { $0 } }
    /// Bytes relayed through open tunnels, both ways.
    public var relayedBytes: Int { state.relayedBytes.value }

    public func stop() async {
        try? await channel.close()
    }
}

/// Reads the CONNECT request head, answers it, and on success splices the connection to the target.
private final class ConnectRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let state: ConnectProxy.State
    private var head = ByteBuffer()
    private var answered = false

    init(state: ConnectProxy.State) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var chunk = unwrapInboundIn(data)
        head.writeBuffer(&chunk)
        let bytes = head.readableBytesView
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            if bytes.count > 16 * 1024 { answer(context, 431, target: "?", authorization: nil) }
            return
        }
        answered = true
        let lines = String(decoding: bytes[bytes.startIndex..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let request = lines.first?.split(separator: " ") ?? []
        let authorization = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { $0.dropFirst("proxy-authorization:".count).trimmingCharacters(in: .whitespaces) }
        guard request.count == 3, request[0] == "CONNECT", let colon = request[1].lastIndex(of: ":"),
              let port = Int(request[1][request[1].index(after: colon)...]) else {
            return answer(context, 400, target: request.count > 1 ? String(request[1]) : "?", authorization: authorization)
        }
        let target = String(request[1])
        let host = String(request[1][..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if let required = state.requiredAuthorization, authorization != required {
            return answer(context, 407, target: target, authorization: authorization)
        }
        if let status = state.refuseWith { return answer(context, status, target: target, authorization: authorization) }

        let inbound = context.channel
        let relayed = state.relayedBytes
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .connect(host: host, port: port)
            .whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .failure:
                    handler.answer(context, 502, target: target, authorization: authorization)
                case .success(let outbound):
                    handler.record(target: target, authorization: authorization, status: 200)
                    let toTarget = RelayHandler(partner: outbound, relayed: relayed)
                    let toClient = RelayHandler(partner: inbound, relayed: relayed)
                    do {
                        try outbound.pipeline.syncOperations.addHandler(toClient)
                        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")), promise: nil)
                        try context.pipeline.syncOperations.addHandler(toTarget)
                        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                    } catch {
                        outbound.close(promise: nil)
                        inbound.close(promise: nil)
                    }
                }
            }
    }

    private func record(target: String, authorization: String?, status: Int) {
        state.tunnels.withLock { $0.append(.init(target: target, authorization: authorization, status: status)) }
    }

    private func answer(_ context: ChannelHandlerContext, _ status: Int, target: String, authorization: String?) {
        answered = true
        record(target: target, authorization: authorization, status: status)
        let reply = "HTTP/1.1 \(status) Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: reply))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

final class ByteCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ bytes: Int) { count.add(bytes, ordering: .relaxed) }
}

/// Writes what one side of a tunnel reads to the other; closes the other when its side closes.
private final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let partner: any Channel
    private let relayed: ByteCounter

    init(partner: any Channel, relayed: ByteCounter) {
        self.partner = partner
        self.relayed = relayed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        relayed.add(buffer.readableBytes)
        partner.write(buffer, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
