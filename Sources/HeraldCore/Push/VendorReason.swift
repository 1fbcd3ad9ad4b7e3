/// Why a vendor answered as it did: the vendor's own reason code where it gave one (`Unregistered`,
/// `UNAVAILABLE`, `HTTP 410`), or Herald's description of what happened on the way (a refused
/// connection, a timeout).
///
/// Codes name what metrics count (`reason` label); descriptions may carry addresses and numbers, so
/// they are counted as `other`. Each vendor target names the codes it acts on as static members.
public struct VendorReason: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, ExpressibleByStringLiteral {
    private enum Kind: Hashable {
        case code(String)
        case unknown(String)
    }

    private let kind: Kind

    /// A reason code as the vendor wrote it.
    public static func code(_ code: String) -> VendorReason { VendorReason(kind: .code(code)) }

    /// A description of a failure that has no vendor code.
    public static func unknown(_ description: String) -> VendorReason { VendorReason(kind: .unknown(description)) }

    private init(kind: Kind) {
        self.kind = kind
    }

    /// A literal is a code: `"Unregistered"`.
    public init(stringLiteral value: String) {
        kind = .code(value)
    }

    public var description: String {
        switch kind {
        case .code(let text), .unknown(let text): text
        }
    }

    public var debugDescription: String {
        switch kind {
        case .code(let code): "code(\(code))"
        case .unknown(let text): "unknown(\(text))"
        }
    }

    /// The `reason` label of `herald_vendor_requests_total`: a code, if it is short and plain (a vendor
    /// that answered with junk must not grow the label set); anything else is `other`.
    public var metricLabel: String {
        guard case .code(let code) = kind, code.count <= 40,
            code.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_ -".unicodeScalars.contains($0) })
        else { return "other" }
        return code
    }

    /// A push Herald accepted without asking a vendor, or the vendor's acceptance.
    public static let delivered: VendorReason = "delivered"
}
