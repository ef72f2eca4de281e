import Foundation
import ReplicaTestSupport
import Testing

/// Round trips through the real binary: files, stdin/stdout, options, aliases and source handling.
@Suite("replica round trips")
struct RoundTripTests {
    static let sample = TestCorpus.redundant(3 << 20, uniqueFraction: 0.2, segment: 48 << 10, seed: 11)

    @Test(
        "FILE -> FILE.rpl -> FILE with each tuning option",
        arguments: [
            [], ["-1"], ["-19"], ["--fast"], ["--codec", "lz4"], ["--codec", "lz4", "-9"], ["--codec", "none"],
            ["--chunk-size", "16K"], ["--chunk-size", "1K", "--window", "1M"], ["--window", "0"], ["-T", "1"],
        ])
    func fileRoundTrip(options: [String]) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("data.bin", Self.sample)
        let compressed = try cli.run(["compress"] + options + ["data.bin"])
        #expect(compressed.status == 0 && !compressed.signaled, "\(compressed.stderr)")
        #expect(compressed.stderr.isEmpty && compressed.stdout.isEmpty)
        #expect(try cli.read("data.bin") == Self.sample, "the source is kept by default")
        try FileManager.default.moveItem(at: cli.url("data.bin"), to: cli.url("original.bin"))
        let decompressed = try cli.run(["decompress", "data.bin.rpl"])
        #expect(decompressed.status == 0, "\(decompressed.stderr)")
        #expect(try cli.read("data.bin") == Self.sample)
        #expect(try cli.listing() == ["data.bin", "data.bin.rpl", "original.bin"])
    }

    @Test("stdin to stdout and back, with `-` and with no file")
    func standardStreams() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("data.bin", Self.sample)
        let compressed = try cli.run([], stdin: "data.bin")
        #expect(compressed.status == 0, "\(compressed.stderr)")
        try cli.write("piped.rpl", compressed.stdout)
        let decompressed = try cli.run(["-d", "-"], stdin: "piped.rpl")
        #expect(decompressed.status == 0, "\(decompressed.stderr)")
        #expect(decompressed.stdout == Self.sample)
        #expect(try cli.listing() == ["data.bin", "piped.rpl"])
    }

    @Test("a pipeline: replica -c | replica -dc")
    func pipeline() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("data.bin", Self.sample)
        let outcome = try cli.shell("set -o pipefail; \"$REPLICA\" -c data.bin | \"$REPLICA\" -dc > back.bin")
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try cli.read("back.bin") == Self.sample)
    }

    @Test("aliases: c, d, -d, -dc, --decompress, -t, -k")
    func aliases() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("a.txt", Array("hello, replica\n".utf8))
        #expect(try cli.run(["c", "a.txt"]).status == 0)
        for arguments in [
            ["d", "-c", "a.txt.rpl"], ["-d", "-c", "a.txt.rpl"], ["-dc", "a.txt.rpl"],
            ["a.txt.rpl", "--decompress", "--stdout"], ["-cd", "a.txt.rpl"],
        ] {
            let outcome = try cli.run(arguments)
            #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdoutText == "hello, replica\n", "\(arguments)")
        }
        #expect(try cli.run(["-t", "a.txt.rpl"]).stdoutText == "a.txt.rpl: OK\n")
        #expect(try cli.run(["a.txt.rpl", "--test", "-q"]).stdoutText.isEmpty)
        #expect(try cli.run(["-kf", "a.txt"]).status == 0)
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }

    @Test("-o names the output; --rm removes the source; -c keeps it")
    func outputAndRemoval() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("a.txt", Self.sample)
        #expect(try cli.run(["-o", "packed", "a.txt"]).status == 0)
        #expect(try cli.listing() == ["a.txt", "packed"])
        #expect(try cli.run(["-d", "--rm", "-o", "b.txt", "packed"]).status == 0)
        #expect(try cli.listing() == ["a.txt", "b.txt"])
        #expect(try cli.read("b.txt") == Self.sample)
        #expect(try cli.run(["--rm", "b.txt"]).status == 0)
        #expect(try cli.listing() == ["a.txt", "b.txt.rpl"])
        let piped = try cli.run(["-c", "--rm", "a.txt"])
        #expect(piped.status == 0 && !piped.stdout.isEmpty)
        #expect(cli.exists("a.txt"), "-c never removes the source")
    }

    @Test("several files in one call, and the output keeps the source's permissions")
    func severalFiles() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("one", Array(Self.sample.prefix(100_000)))
        try cli.write("two", Array(Self.sample.suffix(200_000)))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: cli.url("two").path)
        #expect(try cli.run(["one", "two"]).status == 0)
        #expect(try cli.listing() == ["one", "one.rpl", "two", "two.rpl"])
        let mode = try FileManager.default.attributesOfItem(atPath: cli.url("two.rpl").path)[.posixPermissions]
        #expect(mode as? Int == 0o640)
        #expect(try cli.run(["test", "one.rpl", "two.rpl"]).stdoutText == "one.rpl: OK\ntwo.rpl: OK\n")
        let both = try cli.run(["-dc", "one.rpl", "two.rpl"])
        #expect(both.stdout == Array(Self.sample.prefix(100_000)) + Array(Self.sample.suffix(200_000)))
    }

    @Test("concatenated streams decode as one, as concatenated zstd frames do")
    func concatenated() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let first = Array(Self.sample.prefix(700_000))
        let second = Array(Self.sample.suffix(900_000))
        try cli.write("one", first)
        try cli.write("two", second)
        let packed = try cli.run(["-c", "one", "two"])
        #expect(packed.status == 0)
        try cli.write("both.rpl", packed.stdout)
        let unpacked = try cli.run(["-d", "-"], stdin: "both.rpl")
        #expect(unpacked.status == 0, "\(unpacked.stderr)")
        #expect(unpacked.stdout == first + second)
        #expect(try cli.run(["test", "both.rpl"]).stdoutText == "both.rpl: OK\n")
        let info = try cli.run(["info", "--json", "both.rpl"]).stdoutText
        #expect(info.contains("\"streams\":2,") && info.contains("\"contentBytes\":\(first.count + second.count),"))
        #expect(info.contains("\"encodedBytes\":\(packed.stdout.count),"))
        // An error in the second stream names its offset in the whole file.
        var damaged = packed.stdout
        damaged[damaged.count - 100] ^= 0x01
        try cli.write("bad.rpl", damaged)
        let failed = try cli.run(["test", "bad.rpl"])
        #expect(failed.status == 1)
        let firstLength = try cli.run(["-c", "one"]).stdout.count
        #expect(failed.stderr.hasSuffix("(in stream 2, which starts at offset \(firstLength))\n"), "\(failed.stderr)")
    }

    @Test("an empty input round-trips")
    func emptyInput() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("empty", [])
        #expect(try cli.run(["empty"]).status == 0)
        try FileManager.default.removeItem(at: cli.url("empty"))
        #expect(try cli.run(["-d", "empty.rpl"]).status == 0)
        #expect(try cli.read("empty") == [])
    }

    @Test("demo compresses, decompresses and verifies its built-in sample")
    func demo() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["demo"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = outcome.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("replica demo: 8 versions of a generated service log") == true)
        let names = lines.dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(names == ["input", "encoded", "ratio", "deduplicated", "encode", "decode", "round"])
        #expect(lines.last?.hasPrefix("  round trip    OK, ") == true)
    }
}
