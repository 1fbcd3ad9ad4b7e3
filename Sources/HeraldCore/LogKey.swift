/// Logger metadata keys, defined once so every log line names things the same way.
public enum LogKey {
    public static let reason = "reason"
    public static let attempt = "attempt"
    public static let delaySeconds = "delay.seconds"
    public static let configKey = "config.key"
}
