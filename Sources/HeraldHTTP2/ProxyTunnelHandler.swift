import Logging
import NIOCore

/// Opens an HTTP `CONNECT` tunnel through a proxy before TLS starts, first in the pipeline.
///
/// The handlers after it (TLS, HTTP/2) are in place from the start but hear `channelActive` only
/// once the proxy answered 200: to them the tunnel is the connection. A refusal, a malformed or
/// oversized answer, or the proxy closing closes the channel, which fails the connection attempt.
final class ProxyTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// A proxy's answer head is a status line and a few headers.
    static let maximumResponseBytes = 16 * 1024

    private let target: String
    private let authorization: String?
    private let logger: Logger
    private var received: ByteBuffer?
    private enum State { case waiting, open, failed }
    private var state = State.waiting

    init(targetHost: String, targetPort: Int, authorization: String?, logger: Logger) {
        // IPv6 literals are bracketed in an authority.
        target = targetHost.contains(":") ? "[\(targetHost)]:\(targetPort)" : "\(targetHost):\(targetPort)"
        self.authorization = authorization
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        var request = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization { request += "Proxy-Authorization: \(authorization)\r\n" }
        request += "\r\n"
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: request)), promise: nil)
        // Not passed on: TLS must not start before the tunnel is open.
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .open: return context.fireChannelRead(data)
        case .failed: return
        case .waiting: break
        }
        var chunk = unwrapInboundIn(data)
        if received == nil { received = chunk } else { received!.writeBuffer(&chunk) }
        guard let buffer = received else { return }
        let bytes = buffer.readableBytesView
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            if bytes.count > Self.maximumResponseBytes { refuse(context, status: nil, problem: "answer head too large") }
            return
        }
        let head = String(decoding: bytes[bytes.startIndex..<end.lowerBound], as: UTF8.self)
        let statusLine = head.prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            return refuse(context, status: nil, problem: "not an HTTP answer")
        }
        guard (200..<300).contains(status) else { return refuse(context, status: status, problem: "refused") }
        state = .open
        let rest = buffer.getSlice(at: end.upperBound, length: bytes.endIndex - end.upperBound)
        received = nil
        context.fireChannelActive()
        if let rest, rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .waiting { logger.warning("proxy closed before the tunnel opened", metadata: [HTTP2LogKey.proxyTarget: "\(target)"]) }
        context.fireChannelInactive()
    }

    private func refuse(_ context: ChannelHandlerContext, status: Int?, problem: String) {
        var metadata: Logger.Metadata = [HTTP2LogKey.proxyTarget: "\(target)", HTTP2LogKey.proxyProblem: "\(problem)"]
        if let status { metadata[HTTP2LogKey.proxyStatus] = "\(status)" }
        logger.warning("proxy did not open a tunnel", metadata: metadata)
        state = .failed  // The close below fails the connection attempt.
        received = nil
        context.close(promise: nil)
    }
}
