import Foundation
import Testing

@testable import APNs

@Suite struct APNsIDTests {
    @Test func aLowercaseVersion4UUIDThatFoundationReadsBack() throws {
        for _ in 0..<1_000 {
            let id = APNsID.make()
            #expect(id.utf8.count == 36)
            #expect(id == id.lowercased())
            let parsed = try #require(UUID(uuidString: id), "\(id) is a UUID")
            #expect(parsed.uuidString.lowercased() == id)
            let characters = Array(id)
            #expect([8, 13, 18, 23].allSatisfy { characters[$0] == "-" })
            #expect(characters[14] == "4", "version 4")
            #expect("89ab".contains(characters[19]), "the RFC 4122 variant")
        }
    }

    @Test func tenThousandAreAllDifferent() {
        #expect(Set((0..<10_000).map { _ in APNsID.make() }).count == 10_000)
    }
}
