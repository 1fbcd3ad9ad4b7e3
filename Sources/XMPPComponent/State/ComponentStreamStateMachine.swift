import XMLStream

/// Why a component session ended.
public enum ComponentSessionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server sent a stream error; `not-authorized` means the secret is wrong.
    case streamError(StreamError)
    /// The server broke XEP-0114 (wrong namespace, no stream id, stanzas before the handshake).
    case protocolViolation(String)
    /// The server sent bytes the stream parser refused; we answered with a stream error.
    case malformedInput(XMLStreamError)
    /// The server ended the stream or the TCP connection without an error.
    case closedByServer
    /// The server did not complete the handshake in time.
    case handshakeTimeout

    public var description: String {
        switch self {
        case .streamError(let error): "stream error: \(error)"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .malformedInput(let error): "malformed input: \(error)"
        case .closedByServer: "closed by server"
        case .handshakeTimeout: "handshake timed out"
        }
    }
}

/// The XEP-0114 stream as a value-type state machine: it is fed stream events and returns what the
/// connection must do. It performs no I/O, so every transition is testable without sockets.
public struct ComponentStreamStateMachine: Sendable {
    public enum State: Sendable, Hashable {
        case idle
        case awaitingStreamHeader
        case awaitingHandshakeReply(streamID: String)
        case established(streamID: String)
        case closing
        case closed
    }

    public enum Action: Sendable, Hashable {
        case none
        case write(String)
        /// The handshake succeeded: stanzas may flow.
        case established
        /// An inbound stanza for the router.
        case deliver(StreamElement)
        /// An inbound stanza whose payload a reader read, for the router's `routeRead`.
        case deliverRead(ReadStanza)
        /// An inbound stanza the parser skipped for breaking a per-stanza limit: answer an iq request
        /// with an error, drop anything else; the stream stays up.
        case refuse(SkippedStanza)
        /// Write the bytes (if any), then close the connection, reporting `error` (nil on a clean close).
        case writeAndClose(String?, error: ComponentSessionError?)
    }

    public let domain: String
    private let secret: String
    public private(set) var state: State = .idle

    public init(domain: String, secret: String) {
        self.domain = domain
        self.secret = secret
    }

    public var isEstablished: Bool {
        if case .established = state { true } else { false }
    }

    /// The TCP connection is up: open the stream to our own domain (XEP-0114 omits `version`).
    public mutating func connected() -> Action {
        guard state == .idle else { return .none }
        state = .awaitingStreamHeader
        var to = ""
        XMLSerializer.escapeAttribute(domain, into: &to)
        return .write(
            "<?xml version='1.0'?><stream:stream xmlns='\(Stanza.componentNamespace)' "
                + "xmlns:stream='\(StreamError.streamNamespace)' to='\(to)'>"
        )
    }

    public mutating func received(_ event: XMLStreamEvent) -> Action {
        switch (state, event) {
        case (.awaitingStreamHeader, .streamStart(let header)):
            guard header.element.name == "stream", header.element.namespace == StreamError.streamNamespace else {
                return fail(StreamError(condition: "invalid-namespace"), "stream header is not <stream:stream>")
            }
            guard header.defaultNamespace == Stanza.componentNamespace else {
                return fail(StreamError(condition: "invalid-namespace"), "stream namespace is not jabber:component:accept")
            }
            guard let streamID = header.element[attribute: "id"], !streamID.isEmpty else {
                return fail(StreamError(condition: "bad-format"), "stream header has no id")
            }
            state = .awaitingHandshakeReply(streamID: streamID)
            let digest = ComponentHandshake.digest(streamID: streamID, secret: secret)
            return .write("<handshake>\(digest)</handshake>")

        case (_, .stanza(let element)) where element.name == "error" && element.namespace == StreamError.streamNamespace:
            state = .closed
            let error = StreamError(element: element) ?? StreamError(condition: "undefined-condition")
            return .writeAndClose("</stream:stream>", error: .streamError(error))

        case (.awaitingHandshakeReply(let streamID), .stanza(let element)):
            guard element.name == "handshake", element.elements.isEmpty else {
                return fail(StreamError(condition: "not-authorized"), "<\(element.name)/> before the handshake reply")
            }
            state = .established(streamID: streamID)
            return .established

        case (.established, .stanza(let element)):
            return .deliver(element)

        case (.established, .read(let read)):
            return .deliverRead(read)

        case (.awaitingHandshakeReply, .read(let read)):
            return fail(StreamError(condition: "not-authorized"), "<\(read.stanza.name)/> before the handshake reply")

        case (.established, .stanzaSkipped(let skipped)):
            return .refuse(skipped)

        case (.closing, .stanzaSkipped):
            return .none

        case (.closing, .stanza), (.closing, .read):
            // Stanzas that cross our closing tag are dropped: we no longer answer on this stream.
            return .none

        case (.closing, .streamEnd):
            state = .closed
            return .writeAndClose(nil, error: nil)

        case (.closed, _):
            return .none

        case (_, .streamEnd):
            state = .closed
            return .writeAndClose("</stream:stream>", error: .closedByServer)

        case (_, .streamStart):
            return fail(StreamError(condition: "bad-format"), "unexpected second stream header")

        case (.awaitingHandshakeReply, .stanzaSkipped(let skipped)):
            return fail(StreamError(condition: "not-authorized"), "<\(skipped.element.name)/> before the handshake reply")

        case (.idle, _), (.awaitingStreamHeader, .stanza), (.awaitingStreamHeader, .stanzaSkipped), (.awaitingStreamHeader, .read):
            return fail(StreamError(condition: "bad-format"), "stanza before the stream header")
        }
    }

    /// The parser refused the server's bytes: answer with the matching stream error and close.
    public mutating func parseFailed(_ error: XMLStreamError) -> Action {
        guard state != .closed else { return .none }
        state = .closed
        let streamError = StreamError(condition: error.streamErrorCondition)
        return .writeAndClose(streamError.serializedWithClose, error: .malformedInput(error))
    }

    /// The connection dropped without a closing tag.
    public mutating func connectionClosed() -> ComponentSessionError? {
        switch state {
        case .closing, .closed:
            state = .closed
            return nil
        default:
            state = .closed
            return .closedByServer
        }
    }

    /// We are shutting down: close our side of the stream and wait for the server's closing tag.
    public mutating func close() -> Action {
        switch state {
        case .idle, .closed:
            state = .closed
            return .writeAndClose(nil, error: nil)
        case .closing:
            return .none
        case .awaitingStreamHeader, .awaitingHandshakeReply, .established:
            state = .closing
            return .write("</stream:stream>")
        }
    }

    /// The handshake did not complete in time.
    public mutating func handshakeTimedOut() -> Action {
        switch state {
        case .awaitingStreamHeader, .awaitingHandshakeReply:
            state = .closed
            return .writeAndClose("</stream:stream>", error: .handshakeTimeout)
        default:
            return .none
        }
    }

    private mutating func fail(_ error: StreamError, _ reason: String) -> Action {
        state = .closed
        return .writeAndClose(error.serializedWithClose, error: .protocolViolation(reason))
    }
}
