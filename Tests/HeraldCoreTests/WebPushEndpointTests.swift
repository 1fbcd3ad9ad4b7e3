import Testing

@testable import HeraldCore

@Suite struct WebPushEndpointTests {
    @Test(arguments: [
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://ntfy.example.org:8443/upAbc?up=1",
        "https://8.8.8.8/push",
        "https://[2a00:1450:4001:82a::200e]/push",
    ])
    func publicHTTPSEndpointsAreAccepted(endpoint: String) {
        #expect(WebPushEndpoint.check(endpoint, allowPrivate: false) == nil)
    }

    @Test(arguments: [
        ("http://push.example.org/x", WebPushEndpoint.Problem.notHTTPS),
        ("https:///nohost", .notHTTPS),
        ("https://user:pass@push.example.org/x", .notHTTPS),
        ("ftp://push.example.org/x", .notHTTPS),
        ("https://127.0.0.1:8443/x", .notPublic),
        ("https://localhost/x", .notPublic),
        ("https://printer.local/x", .notPublic),
        ("https://10.1.2.3/x", .notPublic),
        ("https://172.20.0.1/x", .notPublic),
        ("https://192.168.1.1/x", .notPublic),
        ("https://169.254.169.254/latest/meta-data", .notPublic),
        ("https://100.100.1.1/x", .notPublic),
        ("https://0.0.0.0/x", .notPublic),
        ("https://[::1]/x", .notPublic),
        ("https://[fe80::1]/x", .notPublic),
        ("https://[fd00::1]/x", .notPublic),
        ("https://[::ffff:127.0.0.1]/x", .notPublic),
        ("https://[::ffff:10.0.0.1]/x", .notPublic),
        ("https://[64:ff9b::a00:1]/x", .notPublic),
        ("https://[2002:a00:1::]/x", .notPublic),
        ("https://[ff02::1]/x", .notPublic),
    ])
    func otherEndpointsAreRefused(endpoint: String, problem: WebPushEndpoint.Problem) {
        #expect(WebPushEndpoint.check(endpoint, allowPrivate: false) == problem)
    }

    @Test func privateEndpointsPassWhereAllowedButStillOnlyOverHTTPS() {
        #expect(WebPushEndpoint.check("https://127.0.0.1:8443/x", allowPrivate: true) == nil)
        #expect(WebPushEndpoint.check("http://127.0.0.1:8443/x", allowPrivate: true) == .notHTTPS)
        #expect(WebPushEndpoint.check("https://push.example.org/" + String(repeating: "a", count: 2048), allowPrivate: true) == .tooLong)
    }

    @Test func addressesFromTheResolverAreClassifiedTheSameWay() {
        #expect(IPAddress(bytes: [127, 0, 0, 1])?.isPublic == false)
        #expect(IPAddress(bytes: [93, 184, 216, 34])?.isPublic == true)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }
}
