import Crypto
import Foundation
import HeraldCore
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import WebPush

@Suite struct VAPIDTests {
    @Test func vapidHeaderVerifiesWithPyJWT() async throws {
        let clock = ManualClock(start: Date())
        let vapid = VAPID(key: try ExampleKeys.vapidKey(), subject: "mailto:ops@example.org", clock: clock)
        let header = try vapid.authorization(for: URL(string: "https://push.example.net:8443/push/abc")!)
        #expect(try vapid.authorization(for: URL(string: "https://push.example.net:8443/other")!) == header, "cached per origin")
        let (status, output) = try await PythonCheck.run(
            """
            import sys, time, base64, jwt
            from cryptography.hazmat.primitives.asymmetric import ec
            header = open(sys.argv[1]).read()
            assert header.startswith("vapid t="), header
            token = header[len("vapid t="):].split(", k=")[0]
            k = header.split(", k=")[1]
            point = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims = jwt.decode(token, key, algorithms=["ES256"], audience="https://push.example.net:8443")
            assert claims["sub"] == "mailto:ops@example.org", claims
            assert 0 < claims["exp"] - time.time() <= 24 * 3600, claims
            print("ok")
            """,
            files: [Data(header.utf8)]
        )
        #expect(status == 0, "PyJWT: \(output)")
    }
}
