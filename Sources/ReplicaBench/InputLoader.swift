import Foundation

/// Reads the files and directories a user names into one buffer each.
///
/// A directory becomes a tar-like concatenation: for every regular file below it, in sorted order of relative
/// path, a 512-byte header holding the path and size, then the contents padded to 512 bytes. Symbolic links and
/// special files are skipped, so the same tree always gives the same bytes.
enum InputLoader {
    /// The bytes of a file, or the tar-like concatenation of a directory.
    /// - Throws: ``BenchFailure`` naming the path when it does not exist or cannot be read.
    static func load(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw BenchFailure(description: "input \(path): no such file or directory")
        }
        guard isDirectory.boolValue else { return try read(path) }
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let enumerator = FileManager.default.enumerator(atPath: root) else {
            throw BenchFailure(description: "input \(path): cannot list the directory")
        }
        var relativePaths: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let attributes = try? FileManager.default.attributesOfItem(atPath: root + "/" + relative)
            if attributes?[.type] as? FileAttributeType == .typeRegular { relativePaths.append(relative) }
        }
        var bytes: [UInt8] = []
        for relative in relativePaths.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let contents = try read(root + "/" + relative)
            var header = Array("\(relative)\0\(contents.count)\0".utf8.prefix(512))
            header += repeatElement(0, count: 512 - header.count)
            bytes += header
            bytes += contents
            bytes += repeatElement(0, count: (512 - contents.count % 512) % 512)
        }
        return bytes
    }

    private static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BenchFailure(description: "input \(path): cannot read the file")
        }
        return [UInt8](data)
    }
}
