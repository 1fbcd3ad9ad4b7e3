import Testing
import XMLStream

@testable import XMPPComponent

private func header(id: String? = "abc123", namespace: String? = "jabber:component:accept") -> XMLStreamEvent {
    var element = StreamElement("stream", namespace: "http://etherx.jabber.org/streams", ["from": "push.example.com"])
    element[attribute: "id"] = id
    return .streamStart(XMLStreamHeader(element: element, defaultNamespace: namespace))
}

func stanza(_ name: String, namespace: String = Stanza.componentNamespace, children: [StreamNode] = []) -> XMLStreamEvent {
    .stanza(StreamElement(name, namespace: namespace, children: children))
}

private func streamError(_ condition: String) -> XMLStreamEvent {
    .stanza(
        StreamElement("error", namespace: StreamError.streamNamespace)
            .appending(StreamElement(condition, namespace: StreamError.namespace))
            .appending(.text("text", namespace: StreamError.namespace, "go away"))
    )
}

/// Drives the machine to the established state.
private func established() -> ComponentStreamStateMachine {
    var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
    _ = machine.connected()
    _ = machine.received(header())
    _ = machine.received(stanza("handshake"))
    return machine
}

@Suite struct ComponentStreamStateMachineTests {
    @Test func opensTheStreamToItsOwnDomainWithoutVersion() throws {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        guard case .write(let header) = machine.connected() else {
            Issue.record("no header written")
            return
        }
        #expect(header.contains("to='push.example.com'"))
        #expect(header.contains("xmlns='jabber:component:accept'"))
        let streamTag = try #require(header.split(separator: "?>").last)
        #expect(streamTag.hasPrefix("<stream:stream"))
        #expect(!streamTag.contains("version"))
        #expect(machine.state == .awaitingStreamHeader)
    }

    @Test func answersTheServerHeaderWithTheHandshakeDigest() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = machine.connected()
        let action = machine.received(header(id: "abc123"))
        #expect(action == .write("<handshake>\(ComponentHandshake.digest(streamID: "abc123", secret: "s3cret"))</handshake>"))
        #expect(machine.state == .awaitingHandshakeReply(streamID: "abc123"))
    }

    /// A stanza whose payload a reader read is judged as any stanza: delivered once established,
    /// refused before the handshake, dropped while closing.
    @Test func aReadStanzaIsJudgedAsAnyStanza() {
        let read = XMLStreamEvent.read(ReadStanza(stanza: StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "set", "id": "r"]), payload: 7))
        var machine = established()
        guard case .read(let value) = read else { return }
        #expect(machine.received(read) == .deliverRead(value))
        _ = machine.close()
        #expect(machine.received(read) == .none)

        var early = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = early.connected()
        _ = early.received(header())
        guard case .writeAndClose(_, let error) = early.received(read) else {
            Issue.record("a read stanza before the handshake reply must end the stream")
            return
        }
        #expect(error == .protocolViolation("<iq/> before the handshake reply"))
        var earlier = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = earlier.connected()
        guard case .writeAndClose = earlier.received(read) else {
            Issue.record("a read stanza before the stream header must end the stream")
            return
        }
    }

    @Test func emptyHandshakeEstablishesTheStream() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = machine.connected()
        _ = machine.received(header())
        #expect(machine.received(stanza("handshake")) == .established)
        #expect(machine.isEstablished)
    }

    @Test func stanzasAreDeliveredOnceEstablished() {
        var machine = established()
        let iq = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "get"])
        #expect(machine.received(.stanza(iq)) == .deliver(iq))
    }

    @Test func notAuthorizedDuringTheHandshakeIsReported() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "wrong")
        _ = machine.connected()
        _ = machine.received(header())
        let action = machine.received(streamError("not-authorized"))
        #expect(
            action == .writeAndClose("</stream:stream>", error: .streamError(StreamError(condition: "not-authorized", text: "go away")))
        )
        #expect(machine.state == .closed)
    }

    @Test(arguments: ["conflict", "host-unknown", "system-shutdown", "invalid-from"])
    func streamErrorsAreUnderstoodWithTheirCondition(condition: String) {
        var machine = established()
        guard case .writeAndClose(_, .streamError(let error)?) = machine.received(streamError(condition)) else {
            Issue.record("stream error not reported")
            return
        }
        #expect(error.condition == condition)
    }

    @Test func headerWithoutAnIDIsAProtocolViolation() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = machine.connected()
        guard case .writeAndClose(let text?, .protocolViolation?) = machine.received(header(id: nil)) else {
            Issue.record("missing id accepted")
            return
        }
        #expect(text.contains("bad-format"))
    }

    @Test func wrongStreamNamespaceIsRefused() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = machine.connected()
        guard case .writeAndClose(let text?, .protocolViolation?) = machine.received(header(namespace: "jabber:client")) else {
            Issue.record("wrong namespace accepted")
            return
        }
        #expect(text.contains("invalid-namespace"))
    }

    @Test func stanzaOtherThanHandshakeBeforeAuthenticationIsRefused() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = machine.connected()
        _ = machine.received(header())
        guard case .writeAndClose(_, .protocolViolation?) = machine.received(stanza("iq")) else {
            Issue.record("iq before handshake accepted")
            return
        }
        #expect(!machine.isEstablished)
    }

    @Test(arguments: [
        (XMLStreamError.notWellFormed("x"), "not-well-formed"),
        (XMLStreamError.restrictedXML("comment"), "restricted-xml"),
        (XMLStreamError.unboundPrefix("p"), "not-well-formed"),
        (XMLStreamError.tooLarge(limit: 1), "policy-violation"),
    ])
    func parseFailuresSendTheMatchingStreamError(error: XMLStreamError, condition: String) {
        var machine = established()
        guard case .writeAndClose(let text?, .malformedInput(error)?) = machine.parseFailed(error) else {
            Issue.record("parse failure not handled")
            return
        }
        #expect(text == "<stream:error><\(condition) xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
        #expect(machine.state == .closed)
    }

    @Test func skippedStanzasAreRefusedWithoutEndingTheStream() {
        let skipped = SkippedStanza(element: StreamElement("iq", ["id": "1", "type": "set"]), reason: .tooLarge(limit: 10))
        var machine = established()
        #expect(machine.received(.stanzaSkipped(skipped)) == .refuse(skipped))
        #expect(machine.isEstablished)
        #expect(machine.close() == .write("</stream:stream>"))
        #expect(machine.received(.stanzaSkipped(skipped)) == .none)
    }

    @Test func aSkippedStanzaBeforeTheHandshakeReplyIsStillAViolation() {
        var machine = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = machine.connected()
        _ = machine.received(header())
        let skipped = SkippedStanza(element: StreamElement("message"), reason: .tooDeep(limit: 64))
        guard case .writeAndClose(_, .protocolViolation?) = machine.received(.stanzaSkipped(skipped)) else {
            Issue.record("a skipped stanza before the handshake reply was accepted")
            return
        }
    }

    @Test func serverClosingTheStreamIsAnsweredAndReported() {
        var machine = established()
        #expect(machine.received(.streamEnd) == .writeAndClose("</stream:stream>", error: .closedByServer))
    }

    @Test func ourCloseWaitsForTheServersClosingTag() {
        var machine = established()
        #expect(machine.close() == .write("</stream:stream>"))
        #expect(machine.state == .closing)
        #expect(machine.received(stanza("iq")) == .none)
        #expect(machine.received(.streamEnd) == .writeAndClose(nil, error: nil))
        #expect(machine.connectionClosed() == nil)
    }

    @Test func droppedConnectionIsReportedUnlessWeWereClosing() {
        var machine = established()
        #expect(machine.connectionClosed() == .closedByServer)
    }

    @Test func handshakeTimeoutOnlyAppliesBeforeEstablishment() {
        var waiting = ComponentStreamStateMachine(domain: "push.example.com", secret: "s3cret")
        _ = waiting.connected()
        _ = waiting.received(header())
        #expect(waiting.handshakeTimedOut() == .writeAndClose("</stream:stream>", error: .handshakeTimeout))
        var machine = established()
        #expect(machine.handshakeTimedOut() == .none)
    }
}
