import Foundation
import HeraldCore
import VendorSupport

/// The body of `messages:send` for a push.
///
/// Data-only by default, with the keys Conversations reads from p2 (`account`, and `channel` for a
/// group chat's registration). `android.priority` is set explicitly: HIGH for important pushes so Doze
/// lets them through, NORMAL otherwise (FCM's default for data messages, which may wait).
public enum FCMMessage {
    public static func body(for push: PushRequest, notification: Bool) -> String {
        let registration = push.registration
        let content = push.content
        var json = JSONWriter()
        json.beginObject()
        json.beginObject("message")
        json.string("token", registration.token)
        json.beginObject("data")
        if let account = registration.pushAccount { json.string("account", account) }
        if let channel = registration.channel { json.string("channel", channel) }
        if let summary = push.publish.summary, push.publish.encrypted == nil {
            if content.forwardSender, let sender = summary.lastMessageSender { json.string("sender", sender) }
            if content.forwardBody, let body = summary.lastMessageBody { json.string("body", body) }
            // FCM data values are strings only.
            if let count = summary.messageCount { json.string("unread-messages", String(count)) }
        }
        if let encrypted = push.publish.encrypted {
            json.string("encrypted", encrypted.payload)
            json.string("iv", encrypted.iv)
        }
        json.endObject()
        json.beginObject("android")
        json.string("priority", push.pushClass == .background ? "NORMAL" : "HIGH")
        json.string("ttl", "\(content.timeToLive)s")
        if content.collapse {
            json.string("collapse_key", collapseKey(for: registration))
        }
        json.endObject()
        if notification, push.pushClass != .background {
            json.beginObject("notification")
            json.string("title", content.alertTitle)
            if content.forwardBody, push.publish.encrypted == nil, let body = push.publish.summary?.lastMessageBody {
                json.string("body", body)
            }
            json.endObject()
        }
        json.endObject()
        json.endObject()
        return json.text
    }

    /// p2's collapse key: the first six characters of the account hash.
    static func collapseKey(for registration: Registration) -> String {
        if let account = registration.pushAccount, registration.dialect == .p2 { return String(account.prefix(6)) }
        return "herald-" + Redaction.fingerprint(registration.node)
    }
}
