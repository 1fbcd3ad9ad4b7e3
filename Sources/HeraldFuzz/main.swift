import Foundation

#if FUZZING
import CFuzzerDriver
#endif

// herald-fuzz TARGET [libFuzzer options] [CORPUS...]
//
// Built with `-sanitize=fuzzer,address -D FUZZING` (scripts/fuzz.sh), it hands TARGET to libFuzzer.
// Built normally, it replays the inputs in the given files and folders through TARGET, so that the
// corpus and every crash once found stay regression tests.
enum FuzzDriver {
    static let targets = [XMLStreamTarget.target, RouterTarget.target, VendorAnswerTarget.target, PublishReaderTarget.target]
    /// The target libFuzzer's C callback calls: a C function pointer cannot capture it.
    nonisolated(unsafe) static var selected: FuzzTarget?

    static func main(_ arguments: [String]) -> Int32 {
        guard arguments.count >= 2, let target = targets.first(where: { $0.name == arguments[1] }) else {
            FileHandle.standardError.write(Data("usage: herald-fuzz \(targets.map(\.name).joined(separator: "|")) [options] [corpus...]\n".utf8))
            return 2
        }
        selected = target
        var rest = arguments
        rest.remove(at: 1)
        #if FUZZING
        return fuzz(rest)
        #else
        return replay(target, paths: rest.dropFirst().filter { !$0.hasPrefix("-") })
        #endif
    }

    static func runSelected(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        selected?.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    #if FUZZING
    static func fuzz(_ arguments: [String]) -> Int32 {
        var argc = Int32(arguments.count)
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        return cArguments.withUnsafeMutableBufferPointer { buffer in
            var argv = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &argv) { data, size in FuzzDriver.runSelected(data, size) }
        }
    }
    #endif

    static func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
        var replayed = 0
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("no such file or folder: \(path)\n".utf8))
                return 1
            }
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                data.withUnsafeBytes { target.run($0) }
                replayed += 1
            }
        }
        print("\(target.name): \(replayed) inputs replayed, no crash")
        return 0
    }
}

exit(FuzzDriver.main(CommandLine.arguments))
