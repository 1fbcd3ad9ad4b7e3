import Dispatch
import Foundation
import HeraldCore
import HeraldSQLite
import HeraldSupport
import HeraldXMPP
import Logging
import XMLStream
import XMPPComponent

/// The component's router with every registration command and the publish handler, behind the real
/// parser, as the XMPP server feeds it: every iq request gets exactly one reply, addressed back to
/// its sender with its id, and nothing crashes.
enum RouterTarget {
    static let target = FuzzTarget(name: "router", run: run)
    static let domain = JID(domain: "push.example.com")

    /// What the fuzzed publishes meet: a registration with a secret (p2) and one without (Tigase), in
    /// the real SQLite store (in shared memory where there is one, so its writes cost little).
    static let store: SQLiteRegistrationStore = {
        let path = storePath
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        atexit { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: RouterTarget.storePath + suffix) } }
        guard let store = try? SQLiteRegistrationStore(path: path) else { fatalError("cannot open the fuzz store at \(path)") }
        let registrations = [
            Registration(
                node: "eKxTS5n3bOe0", secret: "KK4+H5WMfpRG/2zCbuKq6wpX", app: "chat", service: .apns, dialect: .p2,
                token: "aa01", accountDomain: "example.org", accountKey: "k1", deviceKey: "d1", createdAt: Date()
            ),
            Registration(
                node: "NODE", secret: nil, app: "chat", service: .fcm, dialect: .tigase,
                token: "fcm1", accountDomain: "capulet.example", accountKey: "k2", deviceKey: "d2", createdAt: Date()
            ),
        ]
        let done = DispatchSemaphore(value: 0)
        Task {
            for registration in registrations {
                do {
                    try await store.insert(registration, limits: RegistrationLimits(perAccount: 10, perDomain: 10, total: 10))
                } catch {
                    fatalError("cannot fill the fuzz store: \(error)")
                }
            }
            done.signal()
        }
        done.wait()
        return store
    }()

    static let storePath: String = {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(folder)/herald-fuzz-\(ProcessInfo.processInfo.processIdentifier).sqlite"
    }()

    static let router: ComponentRouter = {
        let app = App(
            name: "chat", services: [.apns, .fcm, .webpush], tigaseProviders: App.defaultTigaseProviders(for: [.apns, .fcm])
        )
        // No timer loop runs here: without a coalescing window no publish waits for one (a publish of a
        // burst is answered when the push at the burst's end is, and that push needs the loop).
        let dispatcher = PushDispatcher(
            store: store, providers: .shared(AcceptingProvider(), apps: ["chat"], services: PushVendor.allCases),
            policy: DeliveryPolicy(coalescingWindow: .zero), clock: SystemClock(), activityFlushInterval: nil,
            logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
        )
        var router = ComponentRouter.pushService()
        router.registerRegistrationCommands(RegistrationContext(
            apps: AppDirectory(apps: [app], defaultApp: "chat"),
            // Bounded, so that millions of fuzzed registrations do not grow the store without end.
            registrations: RegistrationService(store: store, policy: RegistrationPolicy(maximumRegistrations: 2_000)),
            supportsEncryptedPayloads: true
        ))
        router.registerPublishHandler(PublishHandler(dispatcher: dispatcher))
        return router
    }()

    /// HERALD_FUZZ_TRACE=1 prints every reply, to see what a corpus reaches.
    static let trace = ProcessInfo.processInfo.environment["HERALD_FUZZ_TRACE"] == "1"

    static func run(_ data: UnsafeRawBufferPointer) {
        let parser = XMLStreamParser()
        var events: [XMLStreamEvent] = []
        do {
            events += try XMLStreamTarget.header.withUnsafeBytes { try parser.feed($0) }
            events += try parser.feed(data)
        } catch {
            // Not well-formed: the stream would end; the stanzas before the error still count.
        }
        let stanzas = events.compactMap { if case .stanza(let stanza) = $0 { stanza } else { nil } }
        guard !stanzas.isEmpty else { return }
        let done = DispatchSemaphore(value: 0)
        let context = ComponentContext(domain: domain, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() })
        Task {
            for stanza in stanzas {
                let reply = await router.route(stanza, context: context)
                check(reply, answering: stanza)
                if trace, let reply { print(XMLSerializer.serialize(reply, inheritedNamespace: "jabber:component:accept")) }
            }
            done.signal()
        }
        done.wait()
    }

    static func check(_ reply: StreamElement?, answering stanza: StreamElement) {
        guard stanza.isIQRequest else {
            precondition(reply == nil, "a \(stanza.name) was answered")
            return
        }
        guard let reply else { preconditionFailure("an iq \(stanza.stanzaType ?? "") went unanswered") }
        precondition(reply.name == "iq" && (reply.stanzaType == "result" || reply.stanzaType == "error"), "not an iq response")
        precondition(reply.stanzaID == stanza.stanzaID, "the reply carries another id")
        precondition(reply[attribute: "to"] == stanza[attribute: "from"], "the reply goes elsewhere")
        // What Herald sends must itself be something Herald (and so the server) can parse.
        XMLStreamTarget.checkRoundTrip(reply, limits: XMLStreamParser.Limits(maximumDepth: 64))
    }
}

/// A vendor that takes every push, so that fuzzing measures Herald, not a network.
final class AcceptingProvider: PushProvider {
    func send(_ push: PushRequest) async -> PushOutcome { .delivered(id: nil) }
}
