/// One push on its way to a vendor.
public struct PushRequest: Sendable, Hashable {
    public var registration: Registration
    public var publish: Publish
    public var pushClass: PushClass
    /// The app's payload settings.
    public var content: ContentPolicy

    public init(registration: Registration, publish: Publish, pushClass: PushClass, content: ContentPolicy) {
        self.registration = registration
        self.publish = publish
        self.pushClass = pushClass
        self.content = content
    }
}
