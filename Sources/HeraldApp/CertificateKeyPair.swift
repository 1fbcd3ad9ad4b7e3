import NIOSSL

/// Whether a private key belongs to a certificate. A certificate and another certificate's key each
/// load on their own; TLS refuses the pair only when a context is built from it, which Herald does at
/// startup, so `herald check` would pass a configuration that cannot start.
enum CertificateKeyPair {
    static func matches(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) -> Bool {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        // No trust roots: only the pair is in question, and loading the system's would cost a file read.
        configuration.trustRoots = .certificates([])
        return (try? NIOSSLContext(configuration: configuration)) != nil
    }
}
