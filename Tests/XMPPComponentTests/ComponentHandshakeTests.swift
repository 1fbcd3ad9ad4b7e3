import Testing
import XMLStream

@testable import XMPPComponent

@Suite struct ComponentHandshakeTests {
    @Test func digestIsLowercaseHexSHA1OfStreamIDAndSecret() {
        // Computed independently: python3 -c "import hashlib;print(hashlib.sha1(b'3BF96D32wherefore').hexdigest())"
        #expect(ComponentHandshake.digest(streamID: "3BF96D32", secret: "wherefore") == "044e42487c4cff35e6c7d4aa30be6662d8280e2c")
    }
}
