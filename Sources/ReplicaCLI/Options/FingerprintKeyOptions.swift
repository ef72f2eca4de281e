import ArgumentParser
import ReplicaCore

/// `--fingerprint-key FILE`: a deployment's secret for keyed fingerprints (docs/FINGERPRINTS.md). The key is
/// the file's bytes, at least 16 of them (e.g. `head -c 32 /dev/urandom > fp.key`); every party that shares
/// streams, a store or a tunnel link must use the same file.
struct FingerprintKeyOptions: ParsableArguments {
    /// The most bytes a key file may hold.
    static let maximumKeySize = 4096

    @Option(help: ArgumentHelp("Key chunk fingerprints with this file's bytes (16 or more).", valueName: "file"))
    var fingerprintKey: String?

    /// The fingerprinter: keyed when a key file was given, else plain XXH3-128.
    ///
    /// - Throws: ``FileError`` when the file cannot be read, holds fewer than 16 bytes, or is too large.
    func fingerprinter() throws -> Fingerprinter {
        guard let fingerprintKey else { return Fingerprinter() }
        let input = try InputFile(path: fingerprintKey)
        var key: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: Self.maximumKeySize + 1)
        while true {
            let count = try input.read(into: &buffer)
            if count == 0 { break }
            key += buffer[..<count]
            guard key.count <= Self.maximumKeySize else {
                throw FileError(path: fingerprintKey, message: "is larger than \(Self.maximumKeySize) bytes; not a key")
            }
        }
        do {
            return try Fingerprinter(key: key)
        } catch {
            throw FileError(path: fingerprintKey, message: "holds \(key.count) bytes; a fingerprint key needs 16 or more")
        }
    }
}
