/// Writes element trees as XML text. Namespaces are declared where they change, as default namespaces
/// for elements and with generated prefixes for namespaced attributes; `xml:` needs no declaration.
public enum XMLSerializer {
    /// Serializes `element`, declaring its namespace only if it differs from `inheritedNamespace`
    /// (pass the stream's default namespace for stanzas).
    public static func serialize(_ element: StreamElement, inheritedNamespace: String? = nil) -> String {
        var output = ""
        output.reserveCapacity(256)
        write(element, inheritedNamespace: inheritedNamespace, into: &output)
        return output
    }

    public static func write(_ element: StreamElement, inheritedNamespace: String?, into output: inout String) {
        output += "<"
        output += element.name
        if let namespace = element.namespace, namespace != inheritedNamespace {
            output += " xmlns='"
            escapeAttribute(namespace, into: &output)
            output += "'"
        } else if element.namespace == nil, inheritedNamespace != nil {
            output += " xmlns=''"
        }
        var generatedPrefixes = 0
        for attribute in element.attributes {
            output += " "
            if let namespace = attribute.namespace {
                if namespace == StreamElement.xmlNamespace {
                    output += "xml:"
                } else {
                    generatedPrefixes += 1
                    let prefix = "a\(generatedPrefixes)"
                    output += "xmlns:\(prefix)='"
                    escapeAttribute(namespace, into: &output)
                    output += "' \(prefix):"
                }
            }
            output += attribute.name
            output += "='"
            escapeAttribute(attribute.value, into: &output)
            output += "'"
        }
        if element.children.isEmpty {
            output += "/>"
            return
        }
        output += ">"
        for child in element.children {
            switch child {
            case .text(let text): escapeText(text, into: &output)
            case .element(let nested): write(nested, inheritedNamespace: element.namespace, into: &output)
            }
        }
        output += "</"
        output += element.name
        output += ">"
    }

    public static func escapeText(_ text: String, into output: inout String) {
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x0D }) else {
            output += text
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\r": output += "&#13;"  // a literal CR would be normalised away by the reader
            default: output.unicodeScalars.append(scalar)
            }
        }
    }

    public static func escapeAttribute(_ value: String, into output: inout String) {
        guard needsEscaping(attribute: value) else {
            output += value
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "'": output += "&apos;"
            case "\"": output += "&quot;"
            // Attribute-value normalisation would turn literal whitespace characters into spaces.
            case "\t": output += "&#9;"
            case "\n": output += "&#10;"
            case "\r": output += "&#13;"
            default: output.unicodeScalars.append(scalar)
            }
        }
    }

    /// Whether `escapeAttribute` would change `value`: most attribute values (ids, JIDs) are written as they are.
    public static func needsEscaping(attribute value: String) -> Bool {
        value.utf8.contains { byte in
            switch byte {
            case 0x26, 0x3C, 0x3E, 0x27, 0x22, 0x09, 0x0A, 0x0D: true
            default: false
            }
        }
    }
}

extension StreamElement {
    /// This element as XML text, declaring its namespace unless it equals `inheritedNamespace`.
    public func serialized(inheritedNamespace: String? = nil) -> String {
        XMLSerializer.serialize(self, inheritedNamespace: inheritedNamespace)
    }
}
