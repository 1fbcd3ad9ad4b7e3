import HeraldTesting
import Testing

@testable import HeraldCore

@Suite struct PushProvidersTests {
    /// A provider with only `send(_:) async`: the dispatcher must send through a task for it.
    private final class AsyncOnlyProvider: PushProvider {
        func send(_ push: PushRequest) async -> PushOutcome { .delivered(id: nil) }
    }

    @Test func aProviderIsFoundByAppAndVendorAndOnlyACallbackOneAsSuch() {
        let callback = RecordingProvider()
        let asyncOnly = AsyncOnlyProvider()
        var providers = PushProviders()
        providers[app: "chat", service: .apns] = callback
        providers[app: "chat", service: .fcm] = asyncOnly

        #expect(providers[app: "chat", service: .apns] as? RecordingProvider === callback)
        #expect(providers[app: "chat", service: .fcm] as? AsyncOnlyProvider === asyncOnly)
        #expect(providers.callbackProvider(app: "chat", service: .apns) as? RecordingProvider === callback)
        #expect(providers.callbackProvider(app: "chat", service: .fcm) == nil)
        #expect(providers.contains(app: "chat", service: .apns) && providers.contains(app: "chat", service: .fcm))
        #expect(!providers.contains(app: "chat", service: .webpush) && !providers.contains(app: "mail", service: .apns))
        #expect(providers.callbackProvider(app: "mail", service: .apns) == nil)
    }

    /// Replacing a provider replaces what the fast path sees too, and removing one removes both.
    @Test func replacingOrRemovingAProviderChangesItsCallbackFormToo() {
        var providers = PushProviders()
        providers[app: "chat", service: .apns] = RecordingProvider()
        providers[app: "chat", service: .apns] = AsyncOnlyProvider()
        #expect(providers.callbackProvider(app: "chat", service: .apns) == nil)
        #expect(providers.contains(app: "chat", service: .apns))

        let replacement = RecordingProvider()
        providers[app: "chat", service: .apns] = replacement
        #expect(providers.callbackProvider(app: "chat", service: .apns) as? RecordingProvider === replacement)

        providers[app: "chat", service: .apns] = nil
        #expect(providers[app: "chat", service: .apns] == nil)
        #expect(providers.callbackProvider(app: "chat", service: .apns) == nil)
        #expect(!providers.contains(app: "chat", service: .apns))
    }

    @Test func aSharedProviderServesEveryAppAndVendorNamed() {
        let provider = RecordingProvider()
        let providers = PushProviders.shared(provider, apps: ["chat", "mail"], services: [.apns, .fcm])
        for app in ["chat", "mail"] {
            for service in [PushVendor.apns, .fcm] {
                #expect(providers.callbackProvider(app: app, service: service) as? RecordingProvider === provider)
            }
            #expect(!providers.contains(app: app, service: .webpush))
        }
    }
}
