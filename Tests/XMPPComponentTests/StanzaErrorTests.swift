import Testing
import XMLStream

@testable import XMPPComponent

@Suite struct StanzaErrorTests {
    private func stanza(carrying error: StanzaError) -> StreamElement {
        var iq = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "error", "id": "e1"])
        iq.append(error.element)
        return iq
    }

    @Test func survivesItsOwnElementWithTextAndApplicationCondition() throws {
        let original = StanzaError(.modify, "bad-request", text: "no form", applicationCondition: StreamElement("bad-payload", namespace: "http://jabber.org/protocol/commands"))
        let read = try #require(StanzaError(stanza: stanza(carrying: original)))
        #expect(read.type == .modify)
        #expect(read.condition == "bad-request")
        #expect(read.text == "no form")
        #expect(read.applicationCondition?.name == "bad-payload")
    }

    @Test func theErrorElementIsInTheStanzasNamespaceAndTheConditionInRFC6120s() {
        let element = StanzaError.itemNotFound.element
        #expect(element.namespace == Stanza.componentNamespace)
        #expect(element[attribute: "type"] == "cancel")
        #expect(element.elements.first?.namespace == StanzaError.namespace)
        #expect(element.elements.first?.name == "item-not-found")
        #expect(element.elements.count == 1)
    }

    @Test func whatTheCommonErrorsTellASender() {
        #expect(StanzaError.resourceConstraint.type == .wait)
        #expect(StanzaError.internalServerError.type == .wait)
        #expect(StanzaError.itemNotFound.type == .cancel)
        #expect(StanzaError.forbidden.type == .auth)
        #expect(StanzaError.policyViolation("too large").type == .modify)
        #expect(StanzaError.policyViolation("too large").text == "too large")
    }

    @Test func anErrorWithoutAKnownTypeOrConditionIsReadCarefully() throws {
        var iq = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "error"])
        iq.append(StreamElement("error", namespace: Stanza.componentNamespace, ["type": "explode"]))
        #expect(StanzaError(stanza: iq) == nil)
        #expect(StanzaError(stanza: StreamElement("iq", namespace: Stanza.componentNamespace)) == nil)
        var bare = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "error"])
        bare.append(StreamElement("error", namespace: Stanza.componentNamespace, ["type": "wait"]))
        #expect(try #require(StanzaError(stanza: bare)).condition == "undefined-condition")
    }
}
