import APNs
import FCM
import Foundation
import HeraldAdmin
import HeraldCore
import HeraldHTTP2
import HeraldPostgres
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldApp

let minimal = """
    components:
      - domain: push.example.com
        secret: from-file
    """

/// One app with APNs and FCM on the example keys, ending in a newline so that keys can follow.
let chatWithAPNsAndFCM = """
    apps:
      - name: chat
        apns:
          topic: org.example.chat
          key_file: \(ExampleKeys.apnsKeyPath)
          key_id: \(ExampleKeys.apnsKeyID)
          team_id: \(ExampleKeys.apnsTeamID)
        fcm:
          service_account_file: \(ExampleKeys.fcmServiceAccountPath)

    """

private func load(_ yaml: String, environment: [String: String] = [:]) throws -> HeraldConfiguration {
    var tree = try ConfigTree(yaml: yaml)
    try tree.applyEnvironment(environment)
    return try HeraldConfiguration(tree: tree)
}

private func writeTemporary(_ yaml: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-config-\(UUID().uuidString).yaml").path
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private func configurationError(_ yaml: String, environment: [String: String] = [:]) -> ConfigurationError? {
    do {
        _ = try load(yaml, environment: environment)
        return nil
    } catch let error as ConfigurationError {
        return error
    } catch {
        return nil
    }
}

@Suite struct HeraldConfigurationTests {
    @Test func minimalFileNamesOnlyTheComponentAndGetsDefaults() throws {
        let configuration = try load(minimal)
        let component = try #require(configuration.components.first)
        #expect(component.domain == "push.example.com")
        #expect(component.secret == "from-file")
        #expect(component.host == "127.0.0.1")
        #expect(component.port == 5347)
        #expect(component.keepaliveInterval == .seconds(60))
        #expect(component.drainTimeout == .seconds(25))
        #expect(component.parserLimits.maximumDepth == 64)
        #expect(component.parserLimits.maximumStanzaBytes == 512 * 1024)
        #expect(component.readInterval == .zero, "reads are not paced unless asked")
        #expect(configuration.logLevel == .info)
        #expect(configuration.logFormat == .text)
    }

    @Test func tigaseProviderIDsDefaultUnlessListed() throws {
        let apps = minimal + "\n" + chatWithAPNsAndFCM
        let defaults = try load(apps)
        #expect(defaults.apps.first?.app.tigaseProviders == ["tigase:messenger:apns:1": .apns, "tigase:messenger:fcm:1": .fcm])
        let listed = try load(apps + "    tigase_providers:\n      org.example.siskin: apns\n")
        #expect(listed.apps.first?.app.tigaseProviders == ["org.example.siskin": .apns])
        let none = try load(apps + "    tigase_providers: {}\n")
        #expect(none.apps.first?.app.tigaseProviders == [:])
    }

    @Test func statelessAppsAreOptInAndRouteByPushModule() throws {
        let apps = minimal + "\n" + chatWithAPNsAndFCM
        #expect(try load(apps).stateless.isEmpty)
        let stateless = try load(apps + "    stateless:\n      push_modules: [monalProdiOS, monalBeta]\n      min_interval: 20s\n")
        #expect(stateless.stateless.modules.keys.sorted() == ["monalBeta", "monalProdiOS"])
        #expect(stateless.stateless.modules["monalProdiOS"] == .init(
            app: "chat", environment: .production, minimumInterval: .seconds(20), services: [.apns, .fcm], apnsTopic: "org.example.chat"
        ))
        #expect(stateless.stateless.fallback == nil)
        #expect(stateless.stateless.mongooseIM.isEmpty)
        let mongooseIM = try load(apps + "    stateless:\n      mongooseim: true\n")
        #expect(mongooseIM.stateless.mongooseIM.map(\.app) == ["chat"])
        #expect(mongooseIM.stateless.modules.isEmpty)
        let fallback = try load(apps, environment: ["HERALD_APPS__0__STATELESS__DEFAULT": "true"])
        #expect(fallback.stateless.fallback?.app == "chat")
        #expect(fallback.stateless.fallback?.minimumInterval == .seconds(10))
    }

    @Test(arguments: [
        ("    stateless:\n      min_interval: 5s\n", "apps[0].stateless.push_modules"),
        ("    stateless:\n      push_modules: [m]\n      min_interval: 0s\n", "apps[0].stateless.min_interval"),
    ])
    func aStatelessSectionThatSelectsNothingNamesItsKey(section: String, key: String) {
        #expect(configurationError(minimal + "\n" + chatWithAPNsAndFCM + section)?.key == key)
    }

    @Test func aStatelessAppNeedsAPNsAndEachPushModuleOneApp() {
        let webPushOnly = minimal + """

            apps:
              - name: web
                webpush:
                  vapid_private_key_file: \(ExampleKeys.vapidKeyPath)
                  subject: mailto:ops@example.org
                stateless:
                  push_modules: [m]
            """
        #expect(configurationError(webPushOnly)?.key == "apps[0].stateless")
        let sharedModule = minimal + "\n" + chatWithAPNsAndFCM + "    stateless:\n      push_modules: [m]\n      default: true\n"
            + secondApp(name: "other") + "    stateless:\n      push_modules: [m]\n"
        #expect(configurationError(sharedModule)?.key == "apps[1].stateless.push_modules")
        let twoDefaults = minimal + "\n" + chatWithAPNsAndFCM + "    stateless:\n      default: true\n"
            + secondApp(name: "other") + "    stateless:\n      default: true\n"
        #expect(configurationError(twoDefaults)?.key == "apps[1].stateless.default")
    }

    /// A second APNs app, as a list item that continues `chatWithAPNsAndFCM`.
    private func secondApp(name: String) -> String {
        """
          - name: \(name)
            apns:
              topic: org.example.\(name)
              key_file: \(ExampleKeys.apnsKeyPath)
              key_id: \(ExampleKeys.apnsKeyID)
              team_id: \(ExampleKeys.apnsTeamID)

        """
    }

    @Test func vendorConnectionSettingsReachEveryVendorClient() throws {
        let defaults = try load(minimal)
        #expect(defaults.vendorConnections.idlePingInterval == .seconds(60))
        #expect(defaults.vendorConnections.pingTimeout == .seconds(5))
        #expect(defaults.vendorConnections.connectTimeout == .seconds(10))
        #expect(defaults.vendorConnections.retireAfterTimeouts == 3)
        let yaml = minimal + """

            vendors:
              connect_timeout: 3s
              ping_interval: 20s
              ping_timeout: 2s
              retire_after_timeouts: 5

            """ + chatWithAPNsAndFCM
        let configuration = try load(yaml)
        let app = try #require(configuration.apps.first)
        for connection in [try #require(app.apns).provider.connection, try #require(app.fcm).provider.connection] {
            #expect(connection.connectTimeout == .seconds(3))
            #expect(connection.idlePingInterval == .seconds(20))
            #expect(connection.pingTimeout == .seconds(2))
            #expect(connection.retireAfterTimeouts == 5)
        }
    }

    @Test func environmentOverridesTheFile() throws {
        let configuration = try load(
            minimal + "\nxmpp:\n  port: 5348\n",
            environment: [
                "HERALD_COMPONENTS__0__SECRET": "from-env",
                "HERALD_XMPP__PORT": "6000",
                "HERALD_XMPP__KEEPALIVE": "30s",
                "HERALD_LOG__LEVEL": "debug",
                "UNRELATED": "x",
            ]
        )
        #expect(configuration.components[0].secret == "from-env")
        #expect(configuration.components[0].port == 6000)
        #expect(configuration.components[0].keepaliveInterval == .seconds(30))
        #expect(configuration.logLevel == .debug)
    }

    /// `HTTPS_PROXY` and `NO_PROXY` as every tool reads them, under the file's `vendors.proxy`, which is
    /// under `HERALD_VENDORS__PROXY`; the proxy reaches every vendor client, Web Push's included.
    @Test func theProxyComesFromTheStandardVariablesUnderTheFileUnderHeraldsOwn() throws {
        let file = try writeTemporary(minimal + "\nvendors:\n  proxy: http://from-file:3128\n" + chatWithAPNsAndFCM)
        let none = try HeraldConfiguration.load(path: try writeTemporary(minimal), environment: [:])
        #expect(none.vendorConnections.proxy == nil)
        let standard = try HeraldConfiguration.load(path: try writeTemporary(minimal), environment: ["https_proxy": "http://corp:8080", "NO_PROXY": "internal.example"])
        #expect(standard.vendorConnections.proxy?.server.host == "corp")
        #expect(standard.vendorConnections.proxy?.exclusions == ["internal.example"])
        let fromFile = try HeraldConfiguration.load(path: file, environment: ["HTTPS_PROXY": "http://corp:8080"])
        #expect(fromFile.vendorConnections.proxy?.server == .init(host: "from-file", port: 3128))
        let app = try #require(fromFile.apps.first)
        #expect(app.apns?.provider.connection.proxy == fromFile.vendorConnections.proxy)
        #expect(app.fcm?.provider.connection.proxy == fromFile.vendorConnections.proxy)
        let herald = try HeraldConfiguration.load(path: file, environment: ["HTTPS_PROXY": "http://corp:8080", "HERALD_VENDORS__PROXY": "http://own:1"])
        #expect(herald.vendorConnections.proxy?.server.host == "own")
    }

    @Test func aBadProxyURLNamesTheKeyWithoutRepeatingThePassword() throws {
        let error = try #require(configurationError(minimal + "\nvendors:\n  proxy: https://user:hunter2@corp:3128\n"))
        #expect(error.key == "vendors.proxy")
        #expect(!error.description.contains("hunter2"), "\(error)")
    }

    @Test func environmentAloneCanConfigureEverything() throws {
        let configuration = try load(
            "",
            environment: [
                "HERALD_COMPONENTS__0__DOMAIN": "push.a.example",
                "HERALD_COMPONENTS__0__SECRET": "a",
                "HERALD_COMPONENTS__1__DOMAIN": "push.b.example",
                "HERALD_COMPONENTS__1__SECRET": "b",
                "HERALD_COMPONENTS__1__PORT": "5400",
            ]
        )
        #expect(configuration.components.map(\.domain) == ["push.a.example", "push.b.example"])
        #expect(configuration.components.map(\.port) == [5347, 5400])
    }

    @Test func perComponentConnectionSettingsOverrideTheXMPPDefaults() throws {
        let configuration = try load(
            """
            xmpp:
              host: xmpp.internal
              port: 5350
            components:
              - domain: push.a.example
                secret: a
              - domain: push.b.example
                secret: b
                host: other.internal
                port: 5351
            """
        )
        #expect(configuration.components.map(\.host) == ["xmpp.internal", "other.internal"])
        #expect(configuration.components.map(\.port) == [5350, 5351])
    }

    @Test func secretsCanComeFromFiles() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("herald-secret-\(UUID().uuidString)")
        try "  s3cret-in-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try load("components:\n  - domain: push.example.com\n    secret_file: \(file.path)\n")
        #expect(configuration.components[0].secret == "s3cret-in-file")
        let fromEnvironment = try load(
            "components:\n  - domain: push.example.com\n",
            environment: ["HERALD_COMPONENTS__0__SECRET_FILE": file.path]
        )
        #expect(fromEnvironment.components[0].secret == "s3cret-in-file")
    }

    @Test func unreadableSecretFileNamesTheKey() {
        let error = configurationError("components:\n  - domain: push.example.com\n    secret_file: /nonexistent/secret\n")
        #expect(error?.key == "components[0].secret_file")
        #expect(error?.problem.contains("/nonexistent/secret") == true)
    }

    @Test func missingComponentsSayHowToAddOne() {
        let error = configurationError("log:\n  level: info\n")
        #expect(error?.key == "components")
        #expect(error?.fix?.contains("HERALD_COMPONENTS__0__DOMAIN") == true)
    }

    @Test func missingSecretNamesTheKeyAndTheVariable() {
        let error = configurationError("components:\n  - domain: push.example.com\n")
        #expect(error?.key == "components[0].secret")
        #expect(error?.fix?.contains("HERALD_COMPONENTS__0__SECRET") == true)
    }

    @Test(arguments: [
        ("xmpp:\n  port: http\n", "xmpp.port"),
        ("xmpp:\n  port: 70000\n", "xmpp.port"),
        ("xmpp:\n  keepalive: soon\n", "xmpp.keepalive"),
        ("log:\n  level: loud\n", "log.level"),
        ("log:\n  format: xml\n", "log.format"),
        ("xmpp:\n  reconnect_initial_delay: 10s\n  reconnect_max_delay: 1s\n", "xmpp.reconnect_max_delay"),
        ("xmpp: [1, 2]\n", "xmpp"),
        ("xmpp:\n  keepalive: 1e300s\n", "xmpp.keepalive"),
        ("xmpp:\n  drain_timeout: infs\n", "xmpp.drain_timeout"),
        ("xmpp:\n  read_interval: 6ms\n", "xmpp.read_interval"),
        ("xmpp:\n  read_interval: -1ms\n", "xmpp.read_interval"),
        ("vendors:\n  ping_interval: 0s\n", "vendors.ping_interval"),
        ("vendors:\n  ping_timeout: 400d\n", "vendors.ping_timeout"),
        ("vendors:\n  connect_timeout: 0ms\n", "vendors.connect_timeout"),
        ("vendors:\n  retire_after_timeouts: 0\n", "vendors.retire_after_timeouts"),
        ("xmpp:\n  keepalive: 0s\n", "xmpp.keepalive"),
        ("xmpp:\n  handshake_timeout: 0ms\n", "xmpp.handshake_timeout"),
        ("registrations:\n  rate_window: 0s\n", "registrations.rate_window"),
        ("registrations:\n  max_per_domain: 0\n", "registrations.max_per_domain"),
        ("registrations:\n  max_total: -1\n", "registrations.max_total"),
    ])
    func invalidValuesNameTheirKey(extra: String, key: String) {
        #expect(configurationError(minimal + "\n" + extra)?.key == key)
    }

    @Test func everyComponentSharesTheReadInterval() throws {
        let yaml = minimal + "\n  - domain: push2.example.com\n    secret: other\nxmpp:\n  read_interval: 5ms\n"
        #expect(try load(yaml).components.map(\.readInterval) == [.milliseconds(5), .milliseconds(5)])
        let paced = try load(minimal, environment: ["HERALD_XMPP__READ_INTERVAL": "1ms"])
        #expect(paced.components.first?.readInterval == .milliseconds(1))
    }

    @Test(arguments: ["HERALD_COMPONENTS__100000000000__SECRET", "HERALD_COMPONENTS__-1__SECRET", "HERALD_COMPONENTS__1000__SECRET"])
    func listIndexesFromTheEnvironmentAreBounded(variable: String) {
        let error = configurationError(minimal, environment: [variable: "x"])
        #expect(error?.key == variable)
        #expect(error?.fix?.contains("0 to 999") == true)
    }

    @Test func listIndexesFromFlagsAreBounded() {
        #expect(throws: ConfigurationError.self) {
            try HeraldConfiguration.load(path: nil, environment: [:], overrides: [(key: "components[99999999999].secret", value: "x")])
        }
    }

    @Test func registrationLimitsAndAllowedDomains() throws {
        let configuration = try load(minimal + "\nregistrations:\n  max_per_domain: 500\n  max_total: 1000\n  allowed_domains: [Example.org, chat.example]\n")
        let policy = configuration.registrationPolicy
        #expect(policy.maximumRegistrationsPerDomain == 500)
        #expect(policy.maximumRegistrations == 1000)
        #expect(policy.allowedDomains == ["example.org", "chat.example"])
        let fromEnvironment = try load(minimal, environment: ["HERALD_REGISTRATIONS__ALLOWED_DOMAINS": "a.example, b.example"])
        #expect(fromEnvironment.registrationPolicy.allowedDomains == ["a.example", "b.example"])
        let defaults = try load(minimal).registrationPolicy
        #expect(defaults.allowedDomains == nil)
        #expect(defaults.maximumRegistrationsPerDomain == 2_000_000)
        #expect(defaults.maximumRegistrations == 10_000_000)
    }

    @Test func invalidDomainIsRefused() {
        let error = configurationError("components:\n  - domain: 'not a domain'\n    secret: x\n")
        #expect(error?.key == "components[0].domain")
    }

    @Test func duplicateDomainsAreRefused() {
        let error = configurationError(minimal + "\n  - domain: push.example.com\n    secret: again\n")
        #expect(error?.key == "components[1].domain")
    }

    @Test func invalidYAMLIsReported() {
        #expect(configurationError("components: [\n")?.problem.contains("not valid YAML") == true)
    }

    @Test(arguments: [("500ms", Duration.milliseconds(500)), ("10s", .seconds(10)), ("5m", .seconds(300)), ("1h", .seconds(3600)), ("1.5s", .milliseconds(1500))])
    func durationsTakeUnits(text: String, expected: Duration) throws {
        let configuration = try load(minimal + "\nxmpp:\n  keepalive: \(text)\n")
        #expect(configuration.components[0].keepaliveInterval == expected)
    }

    @Test func environmentVariableNamesFollowTheKeyPath() {
        #expect(ConfigTree.environmentName(for: "components[0].secret") == "HERALD_COMPONENTS__0__SECRET")
        #expect(ConfigTree.environmentName(for: "xmpp.max_stanza_size") == "HERALD_XMPP__MAX_STANZA_SIZE")
    }
}

@Suite struct ConfigurationPrecedenceTests {
    private func file(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFile() throws {
        let path = try file(minimal + "\nxmpp:\n  port: 5348\n  keepalive: 10s\nlog:\n  level: error\nadmin:\n  port: 9001\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try HeraldConfiguration.load(
            path: path,
            environment: ["HERALD_XMPP__PORT": "6000", "HERALD_LOG__LEVEL": "debug", "HERALD_ADMIN__PORT": "9002"],
            overrides: [("xmpp.port", "7000"), ("components.0.secret", "from-flag"), ("admin.port", "9003")]
        )
        #expect(configuration.components[0].port == 7000, "flag over environment over file")
        #expect(configuration.components[0].secret == "from-flag", "flag over file")
        #expect(configuration.admin?.port == 9003)
        #expect(configuration.logLevel == .debug, "environment over file where no flag is given")
        #expect(configuration.components[0].keepaliveInterval == .seconds(10), "file over default")
        #expect(configuration.components[0].handshakeTimeout == .seconds(10), "default where nothing is given")
    }

    @Test func sqliteKeepsItsPathAndItsCacheSize() throws {
        let environment = ["HERALD_COMPONENTS__0__DOMAIN": "push.example.org", "HERALD_COMPONENTS__0__SECRET": "x", "HERALD_STORAGE__PATH": "/tmp/h.sqlite"]
        #expect(try HeraldConfiguration.load(path: nil, environment: environment).storage == .sqlite(path: "/tmp/h.sqlite", cacheSize: 20_000))
        let none = try HeraldConfiguration.load(path: nil, environment: environment.merging(["HERALD_STORAGE__CACHE_SIZE": "0"]) { $1 })
        #expect(none.storage == .sqlite(path: "/tmp/h.sqlite", cacheSize: 0))
        #expect(throws: ConfigurationError.self) {
            _ = try HeraldConfiguration.load(path: nil, environment: environment.merging(["HERALD_STORAGE__CACHE_SIZE": "-1"]) { $1 })
        }
    }

    @Test func postgresIsChosenByEngineWithAURLOverTheKeysAndAPasswordFile() throws {
        let passwordFile = FileManager.default.temporaryDirectory.appendingPathComponent("herald-pg-\(UUID().uuidString)").path
        try "s3cret\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: passwordFile) }
        let configuration = try HeraldConfiguration.load(path: nil, environment: [
            "HERALD_COMPONENTS__0__DOMAIN": "push.example.org", "HERALD_COMPONENTS__0__SECRET": "x",
            "HERALD_STORAGE__ENGINE": "postgres",
            "HERALD_STORAGE__POSTGRES__URL": "postgres://push@db.internal/pushes?sslmode=require",
            "HERALD_STORAGE__POSTGRES__PASSWORD_FILE": passwordFile,
            "HERALD_STORAGE__POSTGRES__MAX_CONNECTIONS": "4",
            "HERALD_STORAGE__POSTGRES__CACHE_SIZE": "0",
        ])
        guard case .postgres(let settings) = configuration.storage else {
            Issue.record("not postgres: \(configuration.storage)")
            return
        }
        #expect(settings.host == "db.internal" && settings.port == 5432 && settings.database == "pushes" && settings.user == "push")
        #expect(settings.password == "s3cret")
        #expect(settings.tls == .require && settings.maximumConnections == 4)
        #expect(settings.cacheSize == 0)
        #expect(PostgresSettings().cacheSize == 20_000)
        #expect(configuration.components[0].standbyRetry == .seconds(2))
    }

    @Test func aBadPostgresURLNamesItsKey() {
        #expect {
            try HeraldConfiguration.load(path: nil, environment: [
                "HERALD_COMPONENTS__0__DOMAIN": "push.example.org", "HERALD_COMPONENTS__0__SECRET": "x",
                "HERALD_STORAGE__ENGINE": "postgres", "HERALD_STORAGE__POSTGRES__URL": "mysql://db/pushes",
            ])
        } throws: { error in
            (error as? ConfigurationError)?.key == "storage.postgres.url"
        }
    }

    @Test func flagsUseTheSameKeyPathsAsTheFileIncludingListIndexes() throws {
        let configuration = try HeraldConfiguration.load(
            path: nil,
            environment: [:],
            overrides: [("components[0].domain", "push.example.org"), ("components.0.secret", "x"), ("storage.path", "/tmp/h.sqlite")]
        )
        #expect(configuration.components.map(\.domain) == ["push.example.org"])
        #expect(configuration.databasePath == "/tmp/h.sqlite")
    }

    @Test func adminServerDefaultsToLoopbackAndCanBeTurnedOff() throws {
        let defaults = try load(minimal)
        #expect(defaults.admin == AdminConfiguration(host: "127.0.0.1", port: 8480, token: nil))
        #expect(try load(minimal + "\nadmin:\n  enabled: false\n").admin == nil)
        let error = configurationError(minimal + "\nadmin:\n  token: short\n")
        #expect(error?.key == "admin.token")
        #expect(error?.fix?.contains("openssl rand") == true)
    }
}

/// The configuration files shipped in deploy/ stay valid as Herald's keys evolve.
@Suite struct ShippedConfigurationTests {
    static let repository = ExampleKeys.root.deletingLastPathComponent()

    @Test func exampleConfigurationLoadsOnceItsFilesExist() throws {
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("herald-secret-\(UUID().uuidString)").path
        try "0123456789abcdef0123456789abcdef".write(toFile: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secret) }
        let configuration = try HeraldConfiguration.load(
            path: Self.repository.appendingPathComponent("deploy/herald.example.yaml").path,
            environment: [:],
            overrides: [
                ("components.0.secret_file", secret), ("registrations.hash_key_file", secret), ("admin.token_file", secret),
                ("apps.0.apns.key_file", ExampleKeys.apnsKeyPath),
                ("apps.0.fcm.service_account_file", ExampleKeys.fcmServiceAccountPath),
                ("apps.0.webpush.vapid_private_key_file", ExampleKeys.vapidKeyPath),
            ]
        )
        #expect(configuration.components.map(\.domain) == ["push.example.com"])
        #expect(configuration.apps.first?.app.services == [.apns, .fcm, .webpush])
        #expect(configuration.apps.first?.app.tigaseProviders == ["tigase:messenger:apns:1": .apns, "tigase:messenger:fcm:1": .fcm])
        #expect(configuration.admin?.host == "127.0.0.1")
    }

    @Test func composeConfigurationLoadsWithTheExampleKeys() throws {
        let path = Self.repository.appendingPathComponent("deploy/compose/herald.yaml").path
        let yaml = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "/etc/herald/keys", with: ExampleKeys.root.path)
        var tree = try ConfigTree(yaml: yaml)
        try tree.applyEnvironment(["HERALD_COMPONENTS__0__SECRET": "from-compose-env"])
        let configuration = try HeraldConfiguration(tree: tree)
        #expect(configuration.components.first?.host == "prosody")
        #expect(configuration.components.first?.secret == "from-compose-env")
        #expect(configuration.admin?.host == "0.0.0.0")
    }
}

@Suite struct APNsCertificateConfigurationTests {
    private func apns(_ lines: String) -> String {
        minimal + "\napps:\n  - name: chat\n    apns:\n      topic: org.example.chat\n" + lines
    }

    @Test func pemAndPKCS12CertificatesLoad() throws {
        let pem = try load(apns("      certificate_file: \(ExampleKeys.apnsCertificatePath)\n      private_key_file: \(ExampleKeys.apnsCertificateKeyPath)\n"))
        #expect(pem.apps.first?.apns?.provider.certificateFile == ExampleKeys.apnsCertificatePath)
        let p12 = try load(apns("      p12_file: \(ExampleKeys.apnsPKCS12Path)\n      p12_password: \(ExampleKeys.apnsPKCS12Password)\n"))
        #expect(p12.apps.first?.apns?.provider.pkcs12File == ExampleKeys.apnsPKCS12Path)
    }

    @Test(arguments: [
        ("      p12_file: \(ExampleKeys.apnsPKCS12Path)\n      p12_password: wrong\n", "apps[0].apns.p12_file"),
        ("      p12_file: \(ExampleKeys.apnsCertificatePath)\n", "apps[0].apns.p12_file"),
        ("      certificate_file: \(ExampleKeys.apnsCertificateKeyPath)\n      private_key_file: \(ExampleKeys.apnsCertificateKeyPath)\n", "apps[0].apns.certificate_file"),
        ("      certificate_file: \(ExampleKeys.apnsCertificatePath)\n      private_key_file: \(ExampleKeys.apnsCertificatePath)\n", "apps[0].apns.private_key_file"),
        // Both load, but the key is another certificate's: TLS would refuse them only at startup.
        ("      certificate_file: \(ExampleKeys.tlsCertificatePath)\n      private_key_file: \(ExampleKeys.apnsCertificateKeyPath)\n", "apps[0].apns.private_key_file"),
    ])
    func unusableCertificateFilesNameTheirKey(lines: String, key: String) {
        let error = configurationError(apns(lines))
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.fix != nil)
    }
}
