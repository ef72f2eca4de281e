import Foundation
import ReplicaTestSupport
import Testing

/// Every failure the issue lists: the status, the `replica: PATH: message` line, and no partial output.
@Suite("replica error paths")
struct ErrorPathTests {
    static let sample = TestCorpus.text(600_000, seed: 5)

    /// A scratch directory holding `a.txt` and its compressed form `a.txt.rpl`.
    static func prepared() throws -> CLIRunner {
        let cli = try CLIRunner()
        try cli.write("a.txt", sample)
        let outcome = try cli.run(["a.txt"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return cli
    }

    @Test("a missing file fails with status 1; the other files are still processed")
    func missingFile() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        try FileManager.default.removeItem(at: cli.url("a.txt.rpl"))
        let outcome = try cli.run(["missing.txt", "a.txt"])
        #expect(outcome.status == 1 && !outcome.signaled)
        #expect(outcome.stderr == "replica: missing.txt: No such file or directory\n")
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }

    @Test("a truncated .rpl names the offset where it ends and leaves no output", arguments: [0, 10, 64, 5000, -1])
    func truncated(keep: Int) throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        let stream = try cli.read("a.txt.rpl")
        let length = keep < 0 ? stream.count - 1 : keep
        try cli.write("cut.rpl", Array(stream.prefix(length)))
        let outcome = try cli.run(["-d", "cut.rpl"])
        #expect(outcome.status == 1)
        #expect(
            outcome.stderr.hasPrefix("replica: cut.rpl: truncated stream at offset \(length): "), "\(outcome.stderr)")
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl", "cut.rpl"])
        #expect(try cli.run(["test", "cut.rpl"]).status == 1)
    }

    @Test("a corrupted .rpl names the offset and leaves no output, and an existing target is untouched")
    func corrupted() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        var stream = try cli.read("a.txt.rpl")
        stream[stream.count / 2] ^= 0x40
        try cli.write("bad.rpl", stream)
        try cli.write("bad", Array("keep me".utf8))
        let outcome = try cli.run(["-d", "-f", "bad.rpl"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("replica: bad.rpl: checksum mismatch at offset "), "\(outcome.stderr)")
        #expect(try cli.read("bad") == Array("keep me".utf8))
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl", "bad", "bad.rpl"])
        let tested = try cli.run(["test", "bad.rpl"])
        #expect(tested.status == 1 && tested.stdout.isEmpty)
        #expect(tested.stderr == outcome.stderr)
    }

    @Test("a file that is not a Replica stream")
    func foreignFile() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        try FileManager.default.copyItem(at: cli.url("a.txt"), to: cli.url("text.rpl"))
        let outcome = try cli.run(["info", "text.rpl"])
        #expect(outcome.status == 1)
        #expect(
            outcome.stderr
                == "replica: text.rpl: not a Replica stream at offset 0: the stream does not start with the magic bytes RPLC\n"
        )
    }

    @Test("an existing output needs -f; -f replaces it")
    func existingOutput() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        let before = try cli.read("a.txt.rpl")
        try cli.write("a.txt.rpl", Array("old".utf8))
        let refused = try cli.run(["a.txt"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "replica: a.txt.rpl: already exists (use -f to overwrite)\n")
        #expect(try cli.read("a.txt.rpl") == Array("old".utf8))
        #expect(try cli.run(["-f", "a.txt"]).status == 0)
        #expect(try cli.read("a.txt.rpl") == before)
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }

    @Test("decompress wants the .rpl suffix; compress refuses it")
    func suffixes() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        let decompress = try cli.run(["-d", "a.txt"])
        #expect(decompress.status == 1)
        #expect(decompress.stderr == "replica: a.txt: unknown suffix, expected .rpl (use -o or -c)\n")
        let compress = try cli.run(["a.txt.rpl"])
        #expect(compress.status == 1)
        #expect(compress.stderr == "replica: a.txt.rpl: already has the .rpl suffix; skipped (use -o or -c)\n")
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }

    @Test("a decoder memory limit below the stream's window is refused before decoding")
    func memoryLimit() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        try FileManager.default.removeItem(at: cli.url("a.txt"))
        let outcome = try cli.run(["-d", "--memory", "64M", "a.txt.rpl"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("replica: a.txt.rpl: limit exceeded at offset 32: the stream needs "))
        #expect(outcome.stderr.hasSuffix("above the decoder's limit of 67108864\n"))
        #expect(try cli.listing() == ["a.txt.rpl"])
        #expect(try cli.run(["-d", "--memory", "512M", "a.txt.rpl"]).status == 0)
    }

    @Test("-o naming the input never clobbers it, even with -f")
    func outputIsInput() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        for arguments in [
            ["-o", "a.txt", "a.txt"], ["-f", "-o", "a.txt", "a.txt"], ["-d", "-f", "-o", "a.txt.rpl", "a.txt.rpl"],
        ] {
            let outcome = try cli.run(arguments)
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.stderr.hasSuffix(": is the input file; refusing to overwrite it\n"), "\(outcome.stderr)")
        }
        #expect(try cli.read("a.txt") == Self.sample)
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }

    @Test("a directory as input or output")
    func directories() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        try FileManager.default.createDirectory(at: cli.url("dir"), withIntermediateDirectories: false)
        let input = try cli.run(["dir"])
        #expect(input.status == 1 && input.stderr == "replica: dir: is a directory\n")
        let output = try cli.run(["-f", "-o", "dir", "a.txt"])
        #expect(output.status == 1 && output.stderr == "replica: dir: is a directory\n")
        let missingDirectory = try cli.run(["-o", "nowhere/x.rpl", "a.txt"])
        #expect(missingDirectory.status == 1)
        #expect(missingDirectory.stderr == "replica: nowhere/x.rpl: No such file or directory\n")
    }

    @Test(
        "usage errors exit with 2 and say replica:",
        arguments: [
            (["--bogus"], "replica: Unknown option '--bogus'"),
            (["-T", "257", "a.txt"], "replica: -T/--threads must be 0 (one per core) to 256, got 257."),
            (["-25", "a.txt"], "replica: level 25 is outside 1...19."),
            (["--codec", "lz4", "-15", "a.txt"], "replica: invalid level: lz4 levels are 1...12, got 15."),
            (["--chunk-size", "12", "a.txt"], "replica: invalid averageSize: 12 is outside 64...4194304."),
            (["--window", "lots", "a.txt"], "replica: The value 'lots' is invalid for '--window <size>'"),
            (["-o", "x", "a.txt", "b.txt"], "replica: -o takes one input; got 2."),
            (["-c", "-o", "x", "a.txt"], "replica: -c and -o cannot be combined."),
            (["--fast", "-3", "a.txt"], "replica: --fast and a level cannot be combined."),
            (["-q", "-v", "a.txt"], "replica: -q and -v cannot be combined."),
            (["-k", "--rm", "a.txt"], "replica: -k and --rm cannot be combined."),
            (["chunk"], "replica: Missing expected argument '<file>'"),
        ])
    func usageErrors(arguments: [String], firstLine: String) throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        let outcome = try cli.run(arguments)
        #expect(outcome.status == 2 && !outcome.signaled)
        #expect(outcome.stderr.split(separator: "\n").first.map(String.init) == firstLine)
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }

    @Test("compressed data is never written to, nor read from, a terminal", .enabled(if: CLIRunner.hasScript))
    func terminal() throws {
        let cli = try Self.prepared()
        defer { cli.cleanUp() }
        let write = try cli.shell("script -qfec '\"$REPLICA\" -c a.txt' /dev/null")
        #expect(write.status == 1)
        #expect(
            write.stdoutText.contains(
                "replica: stdout: is a terminal; refusing to write compressed data (use -f to force)"))
        let read = try cli.shell("script -qfec '\"$REPLICA\" -d' /dev/null")
        #expect(read.status == 1)
        #expect(read.stdoutText.contains("replica: stdin: is a terminal; refusing to read compressed data"))
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }
}

/// Special files as outputs.
@Suite("replica special outputs")
struct SpecialOutputTests {
    @Test("-o /dev/null writes in place: no -f needed, the device survives, --rm keeps the source")
    func devNull() throws {
        let cli = try ErrorPathTests.prepared()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["-d", "--rm", "-o", "/dev/null", "a.txt.rpl"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let type = try FileManager.default.attributesOfItem(atPath: "/dev/null")[.type] as? FileAttributeType
        #expect(type == .typeCharacterSpecial)
        #expect(try cli.listing() == ["a.txt", "a.txt.rpl"])
    }
}
