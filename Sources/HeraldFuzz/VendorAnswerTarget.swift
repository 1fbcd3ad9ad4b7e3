import APNs
import FCM
import Foundation
import HeraldCore
import VendorSupport

/// What APNs and FCM answer (status, headers, body), read by the code that decides what becomes of a
/// push: every answer must map to an outcome, whose reason is short enough to be a metric label.
enum VendorAnswerTarget {
    static let target = FuzzTarget(name: "vendor", run: run)

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let vendor = input.byte()
        let status = Int(input.uint16() % 700)
        let retryAfterLength = Int(input.byte() % 40)
        var retryAfterBytes: [UInt8] = []
        for _ in 0..<retryAfterLength { retryAfterBytes.append(input.byte()) }
        let retryAfter = RetryAfter.parse(String(decoding: retryAfterBytes, as: UTF8.self), now: Date(timeIntervalSince1970: 1_790_000_000))
        let body = Data(input.remaining)
        let outcome: PushOutcome
        if vendor % 2 == 0 {
            outcome = APNsResponseClassifier.outcome(status: status, reason: APNsResponseClassifier.reason(in: body), retryAfter: retryAfter, apnsID: nil)
        } else {
            outcome = FCMResponseClassifier.outcome(status: status, body: body, retryAfter: retryAfter)
        }
        if case .delivered = outcome {
            precondition((200..<300).contains(status), "HTTP \(status) was taken as delivered")
        }
        if let retryAfter { precondition(retryAfter >= .zero && retryAfter <= RetryAfter.maximum, "Retry-After out of bounds") }
    }
}
