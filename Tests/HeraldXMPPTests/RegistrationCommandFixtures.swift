/// What the registration command tests of every dialect share: apps, a router over the in-memory store, reply readers.
import HeraldCore
import HeraldTesting
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

let ios = App(name: "ios", services: [.apns], tigaseProviders: App.defaultTigaseProviders(for: [.apns]))
let android = App(name: "android", services: [.fcm, .webpush])
let domain = JID(domain: "push.example.com")

/// A component router with every registration dialect, over an in-memory store.
struct Harness {
    let store = InMemoryRegistrationStore()
    let router: ComponentRouter

    init(policy: RegistrationPolicy = .init(), encrypted: Bool = true) {
        var router = ComponentRouter.pushService()
        router.registerRegistrationCommands(
            RegistrationContext(
                apps: AppDirectory(apps: [android, ios], defaultApp: "android"),
                registrations: RegistrationService(store: store, policy: policy),
                supportsEncryptedPayloads: encrypted
            )
        )
        self.router = router
    }

    /// Routes an iq written as it arrives from the server (in the component namespace).
    func send(_ xml: String, from: String = "romeo@example.org/Conversations.x1") async throws -> StreamElement {
        let stream = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>"
        let events = try XMLStreamParser().feed(Array((stream + xml).utf8))
        guard case .stanza(var stanza)? = events.last else { throw StanzaInbox.Closed() }
        stanza[attribute: "from"] = from
        stanza[attribute: "to"] = "push.example.com"
        let context = ComponentContext(domain: domain, logger: Logger(label: "test"))
        return try #require(await router.route(stanza, context: context))
    }
}

func resultForm(_ reply: StreamElement) -> DataForm? {
    reply.child("command", namespace: Namespace.commands).flatMap { DataForm.first(in: $0) }
}

func error(_ reply: StreamElement) -> (type: String?, condition: String?, app: String?) {
    let error = reply.child("error")
    return (
        error?[attribute: "type"],
        error?.elements.first { $0.namespace == StanzaError.namespace && $0.name != "text" }?.name,
        error?.elements.first { $0.namespace == Namespace.commands }?.name
    )
}

func p2Register(_ service: String = "fcm", token: String = "dPrh685p:APA91bHtoken", device: String = "92afd7a91cdba9a0", deviceField: String = "android-id", muc: String? = nil, app: String? = nil) -> String {
    """
    <iq type='set' id='r1'>
     <command xmlns='http://jabber.org/protocol/commands' node='register-push-\(service)' action='execute'>
      <x xmlns='jabber:x:data' type='submit'>
       <field var='token'><value>\(token)</value></field>
       <field var='\(deviceField)'><value>\(device)</value></field>
       \(muc.map { "<field var='muc'><value>\($0)</value></field>" } ?? "")
       \(app.map { "<field var='app'><value>\($0)</value></field>" } ?? "")
      </x></command></iq>
    """
}
