import ArgumentParser
import Crypto
import CryptoExtras
import FCM
import Foundation
import HeraldCore
import MockVendors
import UnixSignals

struct MockVendor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-vendor",
        abstract: "Run mock APNs, FCM and Web Push endpoints (HTTP/2 over TLS) that check requests as the vendors do.",
        discussion: """
            Point an app's apns.production_url and apns.sandbox_url at the APNs URL, fcm.endpoint and \
            fcm.token_uri at the FCM URLs, and each vendor's ca_file at the certificate, to try the whole \
            path without an Apple or Google account. Web Push subscriptions can use endpoints under the \
            printed Web Push URL. With --apns-key, provider tokens are verified against that key's public \
            half; without it, any token is accepted. FCM assertions are verified against the service \
            account's key.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port of the mock APNs (0 picks a free one).") var port = 0
    @Option(help: "Port of the mock FCM (0 picks a free one).") var fcmPort = 0
    @Option(help: "Port of the mock Web Push service (0 picks a free one).") var webpushPort = 0
    @Option(help: "The FCM service-account key whose assertions to accept.") var fcmServiceAccount = ExampleKeys.fcmServiceAccountPath
    @Option(help: "TLS certificate (PEM).") var tlsCertificate = ExampleKeys.tlsCertificatePath
    @Option(help: "TLS private key (PEM).") var tlsKey = ExampleKeys.tlsKeyPath
    @Option(help: "The APNs .p8 key whose tokens to accept.") var apnsKey: String?
    @Option(help: "Key ID expected in tokens.") var keyID = ExampleKeys.apnsKeyID
    @Option(help: "Team ID expected in tokens.") var teamID = ExampleKeys.apnsTeamID
    @Option(help: "Device token to answer 410 Unregistered (repeatable).") var unregistered: [String] = []
    @Option(help: "Write the listening port to this file once ready.") var portFile: String?
    @Flag(help: "Do not print a line per request.") var quiet = false
    @Option(help: "APNs tokens starting with this prefix are answered 410 Unregistered.") var deadTokenPrefix: String?
    @Option(help: "Answer every APNs request after this many milliseconds.") var delayMs = 0
    @Option(help: "FCM tokens starting with this prefix are answered 404 UNREGISTERED.") var fcmDeadTokenPrefix: String?
    @Option(help: "Write the mock FCM's port to this file once ready.") var fcmPortFile: String?
    @Option(help: "On exit, write the requests each mock answered to this file (JSON).") var statsFile: String?

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
        if let deadTokenPrefix { server.treatAsUnregistered(prefix: deadTokenPrefix) }
        if delayMs > 0 { server.scriptDefault(.slow(milliseconds: delayMs)) }
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
        let account = try ServiceAccount(json: Data(contentsOf: URL(fileURLWithPath: fcmServiceAccount)))
        let fcm = try await MockFCMServer.start(
            certificateFile: tlsCertificate, privateKeyFile: tlsKey,
            publicKey: account.privateKey.publicKey, projectID: account.projectID, host: host, port: fcmPort
        )
        if let fcmDeadTokenPrefix { fcm.treatAsUnregistered(prefix: fcmDeadTokenPrefix) }
        fcm.keepMessages(false)
        let webPush = try await MockWebPushServer.start(certificateFile: tlsCertificate, privateKeyFile: tlsKey, host: host, port: webpushPort)
        print("mock APNs      https://\(host):\(server.port)")
        print("mock FCM       https://\(host):\(fcm.port)  (token URI https://\(host):\(fcm.port)/token, project \(account.projectID))")
        print("mock Web Push  https://\(host):\(webPush.port)/push/<any id>")
        print("certificate    \(tlsCertificate)")
        if let fcmPortFile { try String(fcm.port).write(toFile: fcmPortFile, atomically: true, encoding: .utf8) }
        if let portFile { try String(server.port).write(toFile: portFile, atomically: true, encoding: .utf8) }
        // Serve until SIGINT or SIGTERM.
        for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
        print("mock vendors stopping after \(server.requestCount) APNs, \(fcm.acceptedCount + fcm.refusedCount) FCM and \(webPush.received.count) Web Push requests")
        if let statsFile {
            let stats: [String: Int] = ["apns_requests": server.requestCount, "fcm_accepted": fcm.acceptedCount, "fcm_refused": fcm.refusedCount]
            try JSONSerialization.data(withJSONObject: stats, options: [.sortedKeys]).write(to: URL(fileURLWithPath: statsFile))
        }
        await server.stop()
        await fcm.stop()
        await webPush.stop()
    }
}
