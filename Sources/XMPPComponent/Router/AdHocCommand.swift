import XMLStream

/// One XEP-0050 command. Herald's commands are single-stage: they execute and complete in one step.
public protocol AdHocCommand: Sendable {
    /// The command's node, unique on this component (e.g. `register-push-fcm`).
    var node: String { get }
    /// The human-readable name shown in command lists.
    var name: String { get }
    /// Executes the command for `requester` with the submitted form's fields (empty if none was sent).
    func execute(_ request: AdHocCommandRequest, context: ComponentContext) async throws(StanzaError) -> AdHocCommandResult
}

public struct AdHocCommandRequest: Sendable {
    public let requester: JID
    public let form: DataForm?
    public let stanza: StreamElement

    public init(requester: JID, form: DataForm?, stanza: StreamElement) {
        self.requester = requester
        self.form = form
        self.stanza = stanza
    }
}

/// A completed command: its result form, and a note (XEP-0050 requires `type='error'` when it failed).
public struct AdHocCommandResult: Sendable {
    public enum NoteType: String, Sendable { case info, warn, error }

    public var form: DataForm?
    public var note: (type: NoteType, text: String)?

    public init(form: DataForm? = nil, note: (type: NoteType, text: String)? = nil) {
        self.form = form
        self.note = note
    }
}
