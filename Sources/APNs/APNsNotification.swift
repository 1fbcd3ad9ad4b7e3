import Foundation
import HeraldCore
import VendorSupport

/// The APNs request for a push: which token and topic, the headers, and the JSON body.
public struct APNsNotification: Sendable, Hashable {
    public var deviceToken: String
    public var pushType: String
    public var priority: Int
    public var topic: String
    public var expiration: Int
    public var collapseID: String?
    public var body: String

    /// Apple's payload limits: 4 KiB, 5 KiB for VoIP.
    public var maximumBodyBytes: Int { pushType == "voip" ? 5120 : 4096 }

    /// Builds the request for `push`, with payload keys the existing clients read:
    /// Siskin's `account`, `encrypted`, `iv` (or its plain fallback `sender`, `body`, `unread-messages`),
    /// and an alert that wakes the app's notification service extension (`mutable-content`).
    public init(push: PushRequest, topic: String, now: Date) {
        let registration = push.registration
        let publish = push.publish
        let content = push.content
        switch push.pushClass {
        case .voip:
            deviceToken = registration.voipToken ?? registration.token
            pushType = "voip"
            priority = 10
            self.topic = topic + ".voip"
        case .alert:
            deviceToken = registration.token
            pushType = "alert"
            priority = 10
            self.topic = topic
        case .background:
            deviceToken = registration.token
            pushType = "background"
            priority = 5
            self.topic = topic
        }
        // A call is worth ringing now or never: APNs must not store a VoIP push and deliver it hours later.
        expiration = content.timeToLive == 0 || push.pushClass == .voip ? 0 : Int(now.timeIntervalSince1970) + content.timeToLive
        collapseID = content.collapse && push.pushClass != .voip ? "herald-" + Redaction.fingerprint(registration.node) : nil

        var json = JSONWriter()
        json.beginObject()
        json.beginObject("aps")
        switch push.pushClass {
        case .alert:
            json.beginObject("alert")
            json.string("title", content.alertTitle)
            if content.forwardBody, publish.encrypted == nil, let body = publish.summary?.lastMessageBody {
                json.string("body", body)
            }
            json.endObject()
            json.string("sound", "default")
            json.number("mutable-content", 1)
        case .background:
            json.number("content-available", 1)
        case .voip:
            break
        }
        json.endObject()
        if let account = registration.pushAccount { json.string("account", account) }
        if let channel = registration.channel { json.string("channel", channel) }
        if let encrypted = publish.encrypted {
            json.string("encrypted", encrypted.payload)
            json.string("iv", encrypted.iv)
        } else if let summary = publish.summary {
            if content.forwardSender, let sender = summary.lastMessageSender { json.string("sender", sender) }
            if content.forwardBody, let body = summary.lastMessageBody { json.string("body", body) }
            if let count = summary.messageCount { json.number("unread-messages", count) }
        }
        json.endObject()
        body = json.text
    }

    /// The headers, all but those that change from push to push (which `unindexedHeaders` lists), with
    /// the provider token where one is used.
    public func headers(authorization: String?) -> [(String, String)] {
        var headers: [(String, String)] = []
        headers.reserveCapacity(5)
        headers.append(("apns-push-type", pushType))
        headers.append(("apns-priority", priority == 10 ? "10" : String(priority)))
        headers.append(("apns-topic", topic))
        headers.append(("content-type", "application/json"))
        if let authorization { headers.append(("authorization", authorization)) }
        return headers
    }

    /// The headers whose values differ between pushes, not worth a place in HPACK's table: this
    /// request's `apnsID` among them.
    public func unindexedHeaders(apnsID: String) -> [(String, String)] {
        var headers: [(String, String)] = []
        headers.reserveCapacity(3)
        headers.append(("apns-expiration", expiration == 0 ? "0" : String(expiration)))
        if let collapseID { headers.append(("apns-collapse-id", collapseID)) }
        headers.append(("apns-id", apnsID))
        return headers
    }
}
