import Foundation

/// The `herald` executable built next to the test binary, for tests that run it as a real process.
public enum HeraldBinary {
    public static var path: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("herald").path
    }
}
