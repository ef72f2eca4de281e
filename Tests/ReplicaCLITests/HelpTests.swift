import Testing

/// The help text is part of the interface: each screen is checked word for word, at 80 columns.
@Suite("replica help text")
struct HelpTests {
    @Test(
        "help screens",
        arguments: [
            (
                ["--help"],
                #"""
            OVERVIEW: Deduplicating compression for files and streams.

            Without a command, replica compresses; -d decompresses. Exit status: 0 success,
            1 failure, 2 usage.
            Example: tar c dir | replica > dir.tar.rpl

            USAGE: replica <subcommand>

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.

            SUBCOMMANDS:
              compress, c (default)   Compress each FILE to FILE.rpl, or stdin to stdout.
              decompress, d           Decompress each FILE.rpl to FILE, or stdin to stdout.
              test                    Verify .rpl files without writing output.
              info                    Show the parameters, sizes and counters of .rpl files.
              chunk                   Print one JSON line per chunk: offset, length,
                                      fingerprint.
              demo                    Compress and decompress a built-in sample; print
                                      ratio and MB/s.
              tunnel                  Carry TCP flows over one deduplicated, compressed
                                      link between two accelerators.
              store                   Create, inspect, check and maintain a persistent
                                      chunk store.
              config                  Check accelerator config files.

              See 'replica help <subcommand>' for detailed help.

            """#
            ),
            (
                ["compress", "--help"],
                #"""
            OVERVIEW: Compress each FILE to FILE.rpl, or stdin to stdout.

            Example: replica -19 --chunk-size 16K big.log   (writes big.log.rpl)

            USAGE: replica compress [<options>] [<files> ...]

            ARGUMENTS:
              <files>                 Files to compress; none or - reads stdin.

            OPTIONS:
              --level <n>             1 (fast) to 19 (small), default 3; or -1 ... -19.
              --fast                  Fastest setting: zstd level -1 (lz4: level 1).
              --codec <codec>         Block codec. (values: zstd, lz4, none; default: zstd)
              --chunk-size <size>     Average chunk size; min = 1/4, max = 4x. (default: 8K)
              --window <size>         How far back repeats are found; the decoder holds
                                      this much. (default: 256M)
              -T, --threads <n>       Threads; 2+ or 0 (one per core) overlap reading,
                                      coding and writing; same output. (default: 1)
              -c, --stdout            Write to standard output; keep the source.
              -o, --output <file>     Write to this file (one input only).
              -f, --force             Overwrite existing files; write compressed data to a
                                      terminal.
              --rm                    Remove each source file after success (not with -c).
              -k, --keep              Keep the source files (the default).
              -q, --quiet             Print nothing but errors; no progress display.
              -v, --verbose           Print a summary line per file: ratio, % deduplicated,
                                      MB/s.
              --store <dir>           Send chunks this store holds by reference, and add
                                      the rest to it.
              --version               Show the version.
              -h, --help              Show help information.


            """#
            ),
            (
                ["help", "decompress"],
                #"""
            OVERVIEW: Decompress each FILE.rpl to FILE, or stdin to stdout.

            Example: replica -d big.log.rpl   (writes big.log)

            USAGE: replica decompress [--memory <size>] [--threads <n>] [--stdout] [--output <file>] [--force] [--rm] [--keep] [--quiet] [--verbose] [--store <dir>] [<files> ...]

            ARGUMENTS:
              <files>                 Files to decompress; none or - reads stdin.

            OPTIONS:
              --memory <size>         Decoder memory limit; a stream needing more is
                                      refused. (default: 1G)
              -T, --threads <n>       Threads; 2+ or 0 (one per core) overlap reading,
                                      coding and writing; same output. (default: 1)
              -c, --stdout            Write to standard output; keep the source.
              -o, --output <file>     Write to this file (one input only).
              -f, --force             Overwrite existing files; write compressed data to a
                                      terminal.
              --rm                    Remove each source file after success (not with -c).
              -k, --keep              Keep the source files (the default).
              -q, --quiet             Print nothing but errors; no progress display.
              -v, --verbose           Print a summary line per file: ratio, % deduplicated,
                                      MB/s.
              --store <dir>           Resolve references from this store, and add the new
                                      chunks to it.
              --version               Show the version.
              -h, --help              Show help information.


            """#
            ),
            (
                ["test", "--help"],
                #"""
            OVERVIEW: Verify .rpl files without writing output.

            Example: replica test big.log.rpl   (prints big.log.rpl: OK)

            USAGE: replica test [--memory <size>] [--quiet] [--verbose] [--store <dir>] [<files> ...]

            ARGUMENTS:
              <files>                 Files to verify; none or - reads stdin.

            OPTIONS:
              --memory <size>         Decoder memory limit; a stream needing more is
                                      refused. (default: 1G)
              -q, --quiet             Print nothing but errors; no progress display.
              -v, --verbose           Print a summary line per file: ratio, % deduplicated,
                                      MB/s.
              --store <dir>           The store a store-backed stream references, opened
                                      read-only: nothing is added or changed.
              --version               Show the version.
              -h, --help              Show help information.


            """#
            ),
            (
                ["info", "--help"],
                #"""
            OVERVIEW: Show the parameters, sizes and counters of .rpl files.

            Example: replica info --json big.log.rpl

            USAGE: replica info [--json] [--memory <size>] [--quiet] [--verbose] [--store <dir>] [<files> ...]

            ARGUMENTS:
              <files>                 Files to inspect; none or - reads stdin.

            OPTIONS:
              --json                  One JSON object per line and file.
              --memory <size>         Decoder memory limit; a stream needing more is
                                      refused. (default: 1G)
              -q, --quiet             Print nothing but errors; no progress display.
              -v, --verbose           Print a summary line per file: ratio, % deduplicated,
                                      MB/s.
              --store <dir>           The store a store-backed stream references, opened
                                      read-only: nothing is added or changed.
              --version               Show the version.
              -h, --help              Show help information.


            """#
            ),
            (
                ["chunk", "--help"],
                #"""
            OVERVIEW: Print one JSON line per chunk: offset, length, fingerprint.

            Example: replica chunk --variant 2016 --avg 16K big.log | head -3

            USAGE: replica chunk [--variant <variant>] [--min <size>] [--avg <size>] [--max <size>] [--level <n>] [--seed <seed>] <file>

            ARGUMENTS:
              <file>                  The file to chunk; - reads stdin.

            OPTIONS:
              --variant <variant>     FastCDC variant. (values: 2016, 2020; default: 2020)
              --min <size>            Minimum chunk size (default: avg/4).
              --avg <size>            Average chunk size. (default: 8K)
              --max <size>            Maximum chunk size (default: avg*4).
              --level <n>             Normalization level 0...3 (default 1).
              --seed <seed>           Seed for the Gear table, decimal or 0x hex; 0 is the
                                      published table. (default: 0)
              --version               Show the version.
              -h, --help              Show help information.


            """#
            ),
            (
                ["demo", "--help"],
                #"""
            OVERVIEW: Compress and decompress a built-in sample; print ratio and MB/s.

            Example: replica demo   (exits 1 if the round trip fails)

            USAGE: replica demo

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.


            """#
            ),
        ])
    func helpScreen(arguments: [String], expected: String) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(arguments)
        #expect(outcome.status == 0 && outcome.stderr.isEmpty)
        #expect(outcome.stdoutText == expected)
    }

    @Test("--version names the linked libraries")
    func version() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["--version"])
        #expect(outcome.status == 0)
        #expect(outcome.stdoutText.hasPrefix("replica 0.1.0 (zstd "))
        #expect(outcome.stdoutText.contains(", lz4 ") && outcome.stdoutText.hasSuffix(")\n"))
    }
}
