import Foundation
import HeraldSupport
import Testing

@Suite struct EgressProxyTests {
    @Test(arguments: [
        ("http://proxy.corp:3128", "proxy.corp", 3128, nil),
        ("proxy.corp:8080", "proxy.corp", 8080, nil),
        ("http://proxy.corp", "proxy.corp", 1080, nil),
        ("http://proxy.corp:3128/", "proxy.corp", 3128, nil),
        ("HTTP://user:p%40ss@10.0.0.1:3128", "10.0.0.1", 3128, "Basic " + Data("user:p@ss".utf8).base64EncodedString()),
        ("http://[fd00::1]:3128", "fd00::1", 3128, nil),
    ] as [(String, String, Int, String?)])
    func parsesTheFormsToolsAccept(url: String, host: String, port: Int, authorization: String?) throws {
        let proxy = try EgressProxy(url: url)
        #expect(proxy.server == .init(host: host, port: port, authorization: authorization))
    }

    @Test(arguments: ["https://proxy:3128", "socks5://proxy:1080", "http://proxy:0", "http://proxy:99999", "http://proxy:3128/path", "http://:3128", "http://[fd00::1"])
    func refusesWhatItCannotUse(url: String) {
        #expect(throws: EgressProxy.InvalidURL.self) { try EgressProxy(url: url) }
    }

    @Test func noProxyNamesHostsTheirSubdomainsAddressesAndBlocks() throws {
        let proxy = try EgressProxy(url: "http://proxy:3128", noProxy: "localhost, .internal.example, example.org:443,10.0.0.0/8, 192.168.1.7")
        for direct in ["localhost", "a.internal.example", "internal.example", "example.org", "push.example.org", "10.1.2.3", "192.168.1.7", "LOCALHOST"] {
            #expect(proxy.server(for: direct) == nil, "\(direct)")
        }
        for proxied in ["api.push.apple.com", "fcm.googleapis.com", "notexample.org", "11.0.0.1", "192.168.1.8", "internal.example.com"] {
            #expect(proxy.server(for: proxied) == proxy.server, "\(proxied)")
        }
        #expect(try EgressProxy(url: "proxy:1", noProxy: "*").server(for: "api.push.apple.com") == nil)
    }

    @Test func theEnvironmentIsReadAsCurlReadsIt() throws {
        #expect(try EgressProxy.fromEnvironment([:]) == nil)
        #expect(try EgressProxy.fromEnvironment(["HTTPS_PROXY": ""]) == nil)
        let upper = try #require(try EgressProxy.fromEnvironment(["HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2", "NO_PROXY": "x.org"]))
        #expect(upper.server.host == "a" && upper.exclusions == ["x.org"])
        let lower = try #require(try EgressProxy.fromEnvironment(["https_proxy": "http://b:2", "no_proxy": "y.org"]))
        #expect(lower.server.host == "b" && lower.exclusions == ["y.org"])
    }
}
