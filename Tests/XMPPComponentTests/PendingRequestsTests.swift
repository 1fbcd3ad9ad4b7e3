import Testing
import XMLStream

@testable import XMPPComponent

@Suite struct PendingRequestsTests {
    private func response(id: String?) -> StreamElement {
        StreamElement("iq", namespace: Stanza.componentNamespace, ["type": "result", "id": id])
    }

    @Test func aResponseReachesTheRequestWithItsIDOnce() async throws {
        let pending = PendingRequests()
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamElement.self)
        pending.register("q1", continuation)
        #expect(!pending.resolve(response(id: "q2")))
        #expect(!pending.resolve(response(id: nil)))
        #expect(pending.resolve(response(id: "q1")))
        #expect(!pending.resolve(response(id: "q1")))
        var answers: [String?] = []
        for try await answer in stream { answers.append(answer.stanzaID) }
        #expect(answers == ["q1"])
    }

    @Test func aRemovedRequestHearsNothing() {
        let pending = PendingRequests()
        let (_, continuation) = AsyncThrowingStream.makeStream(of: StreamElement.self)
        pending.register("q1", continuation)
        pending.remove("q1")
        #expect(!pending.resolve(response(id: "q1")))
    }

    @Test func losingTheConnectionFailsEveryWaitingRequest() async {
        let pending = PendingRequests()
        var streams: [AsyncThrowingStream<StreamElement, any Error>] = []
        for index in 0..<100 {
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamElement.self)
            pending.register("q\(index)", continuation)
            streams.append(stream)
        }
        pending.failAll(ComponentRequestError.connectionLost)
        for stream in streams {
            await #expect(throws: ComponentRequestError.connectionLost) { for try await _ in stream {} }
        }
        #expect(!pending.resolve(response(id: "q0")))
    }
}
