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

/// FCM's answers, mapped to what Herald does about them: the one place that knows FCM error codes.
public enum FCMResponse {
    /// How long to wait after a 429 that names no time: Google asks for at least a minute, and the
    /// project's quota refills by the minute.
    public static let quotaBackoff: Duration = .seconds(60)

    public static func outcome(status: Int, body: Data, retryAfter: Duration?) -> PushOutcome {
        if status == 200 {
            let name = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["name"] as? String
            return .delivered(id: name)
        }
        let error = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"] as? [String: Any]
        let details = error?["details"] as? [[String: Any]] ?? []
        let code = details.compactMap { $0["errorCode"] as? String }.first ?? (error?["status"] as? String) ?? "HTTP \(status)"
        let violations = details.flatMap { ($0["fieldViolations"] as? [[String: Any]]) ?? [] }
        let message = (error?["message"] as? String) ?? ""
        switch code {
        case "UNREGISTERED", "SENDER_ID_MISMATCH":
            return .deadToken(reason: code)
        case "INVALID_ARGUMENT":
            let tokenViolation = violations.contains { ($0["field"] as? String) == "message.token" }
                || message.contains("registration token")
            return tokenViolation ? .deadToken(reason: "INVALID_ARGUMENT token") : .rejected(reason: code)
        case _ where status == 429 || code == "QUOTA_EXCEEDED" || code == "RESOURCE_EXHAUSTED":
            return .retry(reason: code, retryAfter: retryAfter ?? quotaBackoff)
        case "UNAVAILABLE", "INTERNAL", "UNSPECIFIED_ERROR":
            return .retry(reason: code, retryAfter: retryAfter)
        case "THIRD_PARTY_AUTH_ERROR", "UNAUTHENTICATED", "PERMISSION_DENIED":
            return .credentials(reason: code)
        default:
            switch status {
            case 401, 403: return .credentials(reason: code)
            case 500...599: return .retry(reason: code, retryAfter: retryAfter)
            default: return .rejected(reason: code)
            }
        }
    }
}
