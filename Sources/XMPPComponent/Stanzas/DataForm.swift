import XMLStream

/// A XEP-0004 data form, reduced to what command and publish handling need: fields looked up by
/// `var`, each with its values in order.
public struct DataForm: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var type: String?
        public var values: [String]

        public init(_ name: String, type: String? = nil, values: [String]) {
            self.name = name
            self.type = type
            self.values = values
        }

        public init(_ name: String, type: String? = nil, value: String) {
            self.init(name, type: type, values: [value])
        }
    }

    public var type: String
    public var fields: [Field]

    public init(type: String, fields: [Field] = []) {
        self.type = type
        self.fields = fields
    }

    /// Reads an `<x xmlns='jabber:x:data'/>` element; nil for anything else.
    public init?(element: StreamElement) {
        guard element.name == "x", element.namespace == Namespace.dataForms else { return nil }
        type = element[attribute: "type"] ?? "form"
        fields = element.children("field", namespace: Namespace.dataForms).compactMap { field in
            guard let name = field[attribute: "var"] else { return nil }
            let values = field.children("value", namespace: Namespace.dataForms).map(\.text)
            return Field(name, type: field[attribute: "type"], values: values)
        }
    }

    /// The first form among `parent`'s children, optionally with a given FORM_TYPE.
    public static func first(in parent: StreamElement, formType: String? = nil) -> DataForm? {
        for child in parent.children("x", namespace: Namespace.dataForms) {
            guard let form = DataForm(element: child) else { continue }
            if formType == nil || form.formType == formType { return form }
        }
        return nil
    }

    public var formType: String? { self["FORM_TYPE"] }

    /// The first value of a field. An empty `<value/>` counts as absent: Prosody sends every summary
    /// field, empty ones without content.
    public subscript(name: String) -> String? {
        guard let value = fields.first(where: { $0.name == name })?.values.first, !value.isEmpty else { return nil }
        return value
    }

    public var element: StreamElement {
        var form = StreamElement("x", namespace: Namespace.dataForms, ["type": type])
        for field in fields {
            var element = StreamElement("field", namespace: Namespace.dataForms, ["var": field.name, "type": field.type])
            for value in field.values {
                element.append(.text("value", namespace: Namespace.dataForms, value))
            }
            form.append(element)
        }
        return form
    }
}
