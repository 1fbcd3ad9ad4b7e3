import Foundation
import HeraldCore
import VendorSupport

/// FCM's answers, mapped to what Herald does about them: the one place that knows FCM error codes.
public enum FCMResponseClassifier {
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
