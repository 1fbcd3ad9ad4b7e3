import Foundation
import XMLStream
import XMPPComponent

/// The `herald` executable built next to the test binary, for tests that run it as a real process.
public enum HeraldBinary {
    public static var path: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("herald").path
    }
}

extension TestXMPPClient {
    /// Executes an ad-hoc command at `to` with a submitted form of `fields` (values already XML-safe),
    /// and returns the reply.
    public func execute(command node: String, at to: String, fields: [(String, String)]) async throws -> XMLElement {
        var form = "<x xmlns='jabber:x:data' type='submit'>"
        for (name, value) in fields {
            form += "<field var='\(name)'><value>\(value)</value></field>"
        }
        form += "</x>"
        let id = makeID()
        try await write(
            "<iq type='set' id='\(id)' to='\(to)'><command xmlns='http://jabber.org/protocol/commands' node='\(node)' action='execute'>\(form)</command></iq>"
        )
        return try await inbox.next("command reply \(id)") { $0.name == "iq" && $0.stanzaID == id }
    }
}

extension XMLElement {
    /// The data form in a command reply.
    public var commandForm: DataForm? {
        child("command", namespace: Namespace.commands).flatMap { DataForm.first(in: $0) }
    }
}
