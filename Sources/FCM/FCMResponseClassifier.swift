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
            return .delivered(id: messageName(in: body))
        }
        let error = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"] as? [String: Any]
        let details = error?["details"] as? [[String: Any]] ?? []
        let code = details.compactMap { $0["errorCode"] as? String }.first ?? (error?["status"] as? String) ?? "HTTP \(status)"
        let violations = details.flatMap { ($0["fieldViolations"] as? [[String: Any]]) ?? [] }
        let message = (error?["message"] as? String) ?? ""
        let reason = VendorReason.code(code)
        switch reason {
        case VendorReason.FCM.unregistered, VendorReason.FCM.senderIDMismatch:
            return .deadToken(reason: reason)
        case VendorReason.FCM.invalidArgument:
            let tokenViolation = violations.contains { ($0["field"] as? String) == "message.token" }
                || message.contains("registration token")
            return tokenViolation ? .deadToken(reason: VendorReason.FCM.invalidToken) : .rejected(reason: reason)
        case _ where status == 429 || reason == VendorReason.FCM.quotaExceeded || reason == VendorReason.FCM.resourceExhausted:
            return .retry(reason: reason, retryAfter: retryAfter ?? quotaBackoff)
        case VendorReason.FCM.unavailable, VendorReason.FCM.internalError, VendorReason.FCM.unspecified:
            return .retry(reason: reason, retryAfter: retryAfter)
        case VendorReason.FCM.thirdPartyAuth, VendorReason.FCM.unauthenticated, VendorReason.FCM.permissionDenied:
            return .credentials(reason: reason)
        default:
            switch status {
            case 401, 403: return .credentials(reason: reason)
            case 500...599: return .retry(reason: reason, retryAfter: retryAfter)
            default: return .rejected(reason: reason)
            }
        }
    }
}

extension VendorReason {
    /// The FCM error codes Herald acts on (`google.firebase.fcm.v1.FcmError` and `google.rpc.Code`).
    public enum FCM {
        public static let unregistered: VendorReason = "UNREGISTERED"
        public static let senderIDMismatch: VendorReason = "SENDER_ID_MISMATCH"
        public static let invalidArgument: VendorReason = "INVALID_ARGUMENT"
        /// `INVALID_ARGUMENT` about the registration token itself: the token is dead.
        public static let invalidToken: VendorReason = "INVALID_ARGUMENT token"
        public static let quotaExceeded: VendorReason = "QUOTA_EXCEEDED"
        public static let resourceExhausted: VendorReason = "RESOURCE_EXHAUSTED"
        public static let unavailable: VendorReason = "UNAVAILABLE"
        public static let internalError: VendorReason = "INTERNAL"
        public static let unspecified: VendorReason = "UNSPECIFIED_ERROR"
        public static let thirdPartyAuth: VendorReason = "THIRD_PARTY_AUTH_ERROR"
        public static let unauthenticated: VendorReason = "UNAUTHENTICATED"
        public static let permissionDenied: VendorReason = "PERMISSION_DENIED"
    }
}

extension FCMResponseClassifier {
    /// The `name` of a success body, `{"name": "projects/…/messages/…"}`, read by scanning for it: every
    /// accepted push has one, and a JSON parser for it cost more than the rest of reading the answer.
    /// Nil when the body holds no such plain string (it is only ever logged).
    static func messageName(in body: Data) -> String? {
        let bytes = [UInt8](body)
        let key = Array(#""name""#.utf8)
        guard let keyStart = bytes.firstRange(of: key)?.lowerBound else { return nil }
        var index = keyStart + key.count
        func skipSpace() { while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        guard let end = bytes[start...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
            bytes[end] == UInt8(ascii: "\"")
        else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
