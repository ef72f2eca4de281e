import ArgumentParser
import ReplicaCore

/// `replica chunk`: the chunker alone, one JSON line per chunk, for debugging and for comparing with other
/// FastCDC implementations.
struct ChunkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk",
        abstract: "Print one JSON line per chunk: offset, length, fingerprint.",
        discussion: "Example: replica chunk --variant 2016 --avg 16K big.log | head -3")

    @Option(help: "FastCDC variant.")
    var variant: VariantName = .v2020

    @Option(help: ArgumentHelp("Minimum chunk size (default: avg/4).", valueName: "size"))
    var min: ByteCount?

    @Option(help: ArgumentHelp("Average chunk size.", valueName: "size"))
    var avg = ByteCount(8 << 10)

    @Option(help: ArgumentHelp("Maximum chunk size (default: avg*4).", valueName: "size"))
    var max: ByteCount?

    @Option(help: ArgumentHelp("Normalization level 0...3 (default 1).", valueName: "n"))
    var level: Int?

    @Option(help: "Seed for the Gear table, decimal or 0x hex; 0 is the published table.")
    var seed: UInt64Argument = UInt64Argument(0)

    @Argument(help: "The file to chunk; - reads stdin.")
    var file: String

    func validate() throws {
        do {
            _ = try configuration()
        } catch {
            throw ValidationError("\(error).")
        }
    }

    /// The chunker configuration: `--avg` alone follows Replica's rule; explicit values override it.
    func configuration() throws(ConfigurationError) -> ChunkerConfiguration {
        let rule = try ChunkerConfiguration(averageSize: avg.value, variant: variant.variant, seed: seed.value)
        return try ChunkerConfiguration(
            variant: variant.variant, minimumSize: min?.value ?? rule.minimumSize, averageSize: avg.value,
            maximumSize: max?.value ?? rule.maximumSize, normalization: level ?? rule.normalization,
            seed: seed.value)
    }

    func run() throws {
        let fingerprinter = Fingerprinter()
        var chunker = Chunker(try configuration())
        let output = TextOutput()
        var offset: UInt64 = 0
        let emit = { (chunk: UnsafeRawBufferPointer) throws(FileError) in
            let fingerprint = fingerprinter.fingerprint(chunk)
            try output.line("{\"offset\":\(offset),\"length\":\(chunk.count),\"fingerprint\":\"\(fingerprint)\"}")
            offset += UInt64(chunk.count)
        }
        do {
            let input = try InputFile(path: file)
            var buffer = [UInt8](repeating: 0, count: StreamPump.pieceSize)
            while true {
                let count = try input.read(into: &buffer)
                if count == 0 { break }
                try buffer.withUnsafeBytes { raw in
                    try chunker.append(UnsafeRawBufferPointer(rebasing: raw[0..<count]), emit)
                }
            }
            try chunker.finish(emit)
            try output.flush()
        } catch {
            Diagnostics.report(error, path: file == "-" ? "stdin" : file)
            throw ExitCode.failure
        }
    }
}

/// The variants `--variant` accepts.
enum VariantName: String, ExpressibleByArgument, CaseIterable {
    case v2016 = "2016"
    case v2020 = "2020"

    var variant: ChunkerConfiguration.Variant { self == .v2016 ? .v2016 : .v2020 }
}

/// A 64-bit unsigned integer given in decimal or as `0x` hex.
struct UInt64Argument: ExpressibleByArgument {
    let value: UInt64

    init(_ value: UInt64) { self.value = value }

    init?(argument: String) {
        let parsed =
            argument.hasPrefix("0x") || argument.hasPrefix("0X")
            ? UInt64(argument.dropFirst(2), radix: 16) : UInt64(argument)
        guard let parsed else { return nil }
        value = parsed
    }

    var defaultValueDescription: String { "\(value)" }
}
