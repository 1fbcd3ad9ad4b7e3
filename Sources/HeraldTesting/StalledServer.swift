import NIOCore
import NIOPosix
import NIOSSL

/// A vendor host that accepts connections and then stalls: before TLS (it never answers the
/// ClientHello), or after TLS (it never speaks HTTP/2). Connections stay open until `stop()`.
public final class StalledServer: Sendable {
    public enum Stage: Sendable {
        case beforeTLS
        case afterTLS(certificateFile: String, privateKeyFile: String)
    }

    public let port: Int
    private let channel: any Channel

    public static func start(_ stage: Stage) async throws -> StalledServer {
        var sslContext: NIOSSLContext?
        if case .afterTLS(let certificateFile, let privateKeyFile) = stage {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            )
            tls.applicationProtocols = ["h2"]
            sslContext = try NIOSSLContext(configuration: tls)
        }
        let context = sslContext
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Without TLS nothing reads the bytes: they are dropped at the pipeline's end.
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StalledServer(port: channel.localAddress?.port ?? 0, channel: channel)
    }

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    public func stop() async {
        try? await channel.close()
    }
}
