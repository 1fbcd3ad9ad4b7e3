import Testing
import XMLStream

@testable import XMPPComponent

@Suite struct DataFormTests {
    private static let summary = DataForm(type: "submit", fields: [
        .init("FORM_TYPE", type: "hidden", value: "urn:xmpp:push:summary"),
        .init("message-count", value: "3"),
        .init("last-message-body", values: [""]),
        .init("list", values: ["a", "b"]),
    ])

    @Test func survivesItsOwnElement() throws {
        let read = try #require(DataForm(element: Self.summary.element))
        #expect(read == Self.summary)
        #expect(read.formType == "urn:xmpp:push:summary")
        #expect(read["message-count"] == "3")
        #expect(read.fields.first { $0.name == "list" }?.values == ["a", "b"])
    }

    @Test func anEmptyValueCountsAsAbsent() {
        #expect(Self.summary["last-message-body"] == nil)
        #expect(Self.summary["no-such-field"] == nil)
    }

    @Test func readsOnlyFormsAndFieldsWithAName() throws {
        #expect(DataForm(element: StreamElement("x", namespace: "jabber:x:other")) == nil)
        #expect(DataForm(element: StreamElement("form", namespace: Namespace.dataForms)) == nil)
        var element = StreamElement("x", namespace: Namespace.dataForms)
        element.append(StreamElement("field", namespace: Namespace.dataForms))
        let form = try #require(DataForm(element: element))
        #expect(form.type == "form")
        #expect(form.fields.isEmpty)
    }

    @Test func firstPicksTheFormOfTheRequestedType() throws {
        var parent = StreamElement("publish-options", namespace: "http://jabber.org/protocol/pubsub")
        parent.append(DataForm(type: "submit", fields: [.init("FORM_TYPE", value: "urn:example:other")]).element)
        parent.append(DataForm(type: "submit", fields: [.init("FORM_TYPE", value: "http://jabber.org/protocol/publish-options"), .init("secret", value: "s")]).element)
        #expect(DataForm.first(in: parent)?.formType == "urn:example:other")
        #expect(DataForm.first(in: parent, formType: "http://jabber.org/protocol/publish-options")?["secret"] == "s")
        #expect(DataForm.first(in: parent, formType: "urn:example:none") == nil)
    }
}
