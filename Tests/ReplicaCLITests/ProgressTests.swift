import Foundation
import ReplicaTestSupport
import Testing

/// The progress line, seen through a pseudo-terminal made by `script`.
@Suite("replica progress display", .enabled(if: CLIRunner.hasScript))
struct ProgressTests {
    static let erase = "\r\u{1B}[K"

    @Test("on a terminal: bytes, %, MB/s, ratio and ETA, then erased")
    func shownOnTerminal() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("big.bin", TestCorpus.random(4 << 20, seed: 4))
        let outcome = try cli.shell("script -qfec '\"$REPLICA\" --progress-delay 0 big.bin' /dev/null")
        #expect(outcome.status == 0, "\(outcome.stdoutText)")
        let text = outcome.stdoutText
        let line = try #require(text.components(separatedBy: Self.erase).first { $0.hasPrefix("big.bin: ") })
        #expect(line.contains(" / 4.00 MiB "), "\(line)")
        #expect(line.contains("%, "), "\(line)")
        #expect(line.contains(" MB/s"), "\(line)")
        #expect(line.contains(", ratio "), "\(line)")
        #expect(line.contains(", ETA "), "\(line)")
        #expect(text.hasSuffix(Self.erase), "the line is erased at the end")
        #expect(cli.exists("big.bin.rpl"))
        let decoded = try cli.shell("script -qfec '\"$REPLICA\" test --progress-delay 0 big.bin.rpl' /dev/null")
        #expect(decoded.stdoutText.contains(Self.erase + "big.bin.rpl: "), "\(decoded.stdoutText)")
    }

    @Test("-q silences it; off a terminal there is none")
    func hidden() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("big.bin", TestCorpus.redundant(2 << 20, seed: 4))
        let quiet = try cli.shell("script -qfec '\"$REPLICA\" -q --progress-delay 0 big.bin' /dev/null")
        #expect(quiet.status == 0)
        #expect(!quiet.stdoutText.contains("\u{1B}"))
        let piped = try cli.run(["-f", "--progress-delay", "0", "big.bin"])
        #expect(piped.status == 0 && piped.stderr.isEmpty)
    }
}
