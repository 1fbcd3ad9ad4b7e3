import MockVendors
import NIOSSL
import Testing

@testable import HeraldApp

@Suite struct CertificateKeyPairTests {
    private func pair(_ certificate: String, _ key: String) throws -> Bool {
        try CertificateKeyPair.matches(chain: NIOSSLCertificate.fromPEMFile(certificate), key: NIOSSLPrivateKey(file: key, format: .pem))
    }

    @Test func aCertificateMatchesItsOwnKey() throws {
        #expect(try pair(ExampleKeys.apnsCertificatePath, ExampleKeys.apnsCertificateKeyPath))
        #expect(try pair(ExampleKeys.tlsCertificatePath, ExampleKeys.tlsKeyPath))
    }

    @Test func aCertificateDoesNotMatchAnotherCertificatesKey() throws {
        #expect(try !pair(ExampleKeys.tlsCertificatePath, ExampleKeys.apnsCertificateKeyPath))
        #expect(try !pair(ExampleKeys.apnsCertificatePath, ExampleKeys.tlsKeyPath))
    }
}
