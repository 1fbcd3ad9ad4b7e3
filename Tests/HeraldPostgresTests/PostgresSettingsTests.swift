import HeraldPostgres
import PostgresNIO
import Testing

@Suite struct PostgresSettingsTests {
    @Test func aURLSetsWhatItNamesAndKeepsTheRest() throws {
        let defaults = PostgresSettings(password: "from-file", maximumConnections: 4)
        let settings = try PostgresSettings(url: "postgres://push%40ops@db.internal:6543/pushes?sslmode=require", defaults: defaults)
        #expect(settings.host == "db.internal")
        #expect(settings.port == 6543)
        #expect(settings.user == "push@ops")
        #expect(settings.database == "pushes")
        #expect(settings.tls == .require)
        #expect(settings.password == "from-file", "a URL without a password keeps password_file's")
        #expect(settings.maximumConnections == 4)
        #expect(try PostgresSettings(url: "postgresql://u:p%2Fw@h/d").password == "p/w")
        #expect(try PostgresSettings(url: "postgres://h?sslmode=disable").tls == .disable)
    }

    @Test(arguments: ["mysql://h/d", "not a url", "postgres://h/d?sslmode=sometimes", "postgres://h/d?pool=3"])
    func otherURLsAreRefused(url: String) {
        #expect(throws: PostgresSettings.URLError.self) { try PostgresSettings(url: url) }
    }

    @Test func theDescriptionForLogsHasNoPassword() throws {
        let settings = try PostgresSettings(url: "postgres://herald:hunter2-secret@db:5432/herald")
        #expect(settings.redactedDescription == "postgres://herald@db:5432/herald")
        #expect(!settings.redactedDescription.contains("hunter2"))
    }

    @Test func everyTLSModeMakesAClientConfiguration() throws {
        for mode in PostgresSettings.TLSMode.allCases {
            let configuration = try PostgresSettings(tls: mode, maximumConnections: 3).clientConfiguration()
            #expect(configuration.options.maximumConnections == 3)
            #expect(configuration.host == "127.0.0.1")
        }
    }
}
