import ArgumentParser
import Crypto
import Foundation

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make keys Herald needs.",
        subcommands: [GenerateVAPID.self]
    )
}

struct GenerateVAPID: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-vapid",
        abstract: "Generate a VAPID key pair for Web Push (apps[].webpush.vapid_private_key_file).",
        discussion: "Writes the private key as PEM (mode 0600) and prints the public key, base64url, which web apps pass to pushManager.subscribe as applicationServerKey."
    )

    @Option(name: .shortAndLong, help: "Where to write the private key (PEM).") var output: String

    func run() throws {
        guard !FileManager.default.fileExists(atPath: output) else {
            throw ValidationError("\(output) exists; not overwriting a key")
        }
        let key = P256.Signing.PrivateKey()
        guard FileManager.default.createFile(atPath: output, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(output)")
        }
        let publicKey = key.publicKey.x963Representation.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        print("private key written to \(output)")
        print("public key (applicationServerKey): \(publicKey)")
    }
}
