import ArgumentParser
import Foundation

/// `-T N` / `--threads N` for compress and decompress, with zstd's attached spelling (`-T0`, `-T2`).
struct ThreadOptions: ParsableArguments {
    /// The largest count accepted.
    static let maximum = 256

    @Option(
        name: [.customShort("T", allowingJoined: true), .long],
        help: ArgumentHelp(
            "Threads; 2+ or 0 (one per core) overlap reading, coding and writing; same output.",
            valueName: "n"))
    var threads = 1

    func validate() throws {
        guard (0...Self.maximum).contains(threads) else {
            throw ValidationError("-T/--threads must be 0 (one per core) to \(Self.maximum), got \(threads).")
        }
    }

    /// Whether to run the pipeline: more than one thread asked for (`-T0` on a one-core machine is one).
    var pipelined: Bool {
        (threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads) > 1
    }
}
