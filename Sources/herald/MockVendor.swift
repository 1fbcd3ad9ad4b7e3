import ArgumentParser
import Crypto
import Foundation

import HeraldCore
import HeraldTesting
import UnixSignals

struct MockVendor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-vendor",
        abstract: "Run a mock APNs endpoint (HTTP/2 over TLS) that checks requests as Apple does.",
        discussion: """
            Point an app's apns.production_url and apns.sandbox_url at the printed URL and its apns.ca_file \
            at the certificate, to try the whole path without an Apple account. With --apns-key, provider \
            tokens are verified against that key's public half; without it, any token is accepted.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 0
    @Option(help: "TLS certificate (PEM).") var tlsCertificate = ExampleKeys.tlsCertificatePath
    @Option(help: "TLS private key (PEM).") var tlsKey = ExampleKeys.tlsKeyPath
    @Option(help: "The APNs .p8 key whose tokens to accept.") var apnsKey: String?
    @Option(help: "Key ID expected in tokens.") var keyID = ExampleKeys.apnsKeyID
    @Option(help: "Team ID expected in tokens.") var teamID = ExampleKeys.apnsTeamID
    @Option(help: "Device token to answer 410 Unregistered (repeatable).") var unregistered: [String] = []
    @Option(help: "Write the listening port to this file once ready.") var portFile: String?
    @Flag(help: "Do not print a line per request.") var quiet = false

    func run() async throws {
        var credentials: MockAPNsServer.Credentials?
        if let apnsKey {
            let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: apnsKey, encoding: .utf8))
            credentials = .init(keyID: keyID, teamID: teamID, publicKey: key.publicKey)
        }
        let server = try await MockAPNsServer.start(
            certificateFile: tlsCertificate, privateKeyFile: tlsKey, credentials: credentials, host: host, port: port
        )
        for token in unregistered { server.script(token, .unregistered) }
        server.keepRequests(false)
        if !quiet {
            server.observe { request in
                // The token is shown only as a fingerprint, as in Herald's own logs.
                let line = "\(request.status) \(request.reason ?? "OK") push-type=\(request.headers["apns-push-type"] ?? "-") "
                    + "priority=\(request.headers["apns-priority"] ?? "-") topic=\(request.headers["apns-topic"] ?? "-") "
                    + "token=\(Redaction.fingerprint(request.deviceToken)) jwt=\(request.issuer == nil ? "unverified" : "valid")"
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
        print("mock APNs listening on https://\(host):\(server.port) (certificate: \(tlsCertificate))")
        if let portFile { try String(server.port).write(toFile: portFile, atomically: true, encoding: .utf8) }
        // Serve until SIGINT or SIGTERM.
        for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
        print("mock APNs stopping after \(server.requestCount) requests")
        await server.stop()
    }
}
