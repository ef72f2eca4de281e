import Foundation
import ReplicaTestSupport
import Testing

/// `-T N`: the pipeline writes the same bytes as one thread, for every input and thread count, and its
/// output decodes (with and without the pipeline) to the input.
@Suite("replica -T")
struct ThreadsTests {
    /// Empty, one byte, less than a read, several reads of redundant data, random data, and text.
    static let inputs: [(name: String, bytes: [UInt8])] = [
        ("empty", []), ("one", [42]), ("small", TestCorpus.text(70_000)),
        ("redundant", TestCorpus.redundant(5 << 20, uniqueFraction: 0.3, segment: 40 << 10, seed: 3)),
        ("random", TestCorpus.random(3 << 20 + 12_345, seed: 4)),
    ]

    /// The spellings of a thread count the test tries, with the count they mean (0: one per core).
    static let spellings: [[String]] = [["-T1"], ["-T", "2"], ["-T4"], ["-T0"], ["--threads", "3"]]

    @Test("compress output is byte-identical for every -T, and decodes with -T1 and -T2", arguments: [
        [], ["--codec", "lz4"], ["-19", "--chunk-size", "2K"],
    ])
    func identicalOutput(options: [String]) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        for input in Self.inputs {
            try cli.write(input.name, input.bytes)
            var outputs: [[UInt8]] = []
            for spelling in Self.spellings {
                let compressed = try cli.run(["-c"] + options + spelling + [input.name])
                #expect(compressed.status == 0, "\(spelling) \(input.name): \(compressed.stderr)")
                outputs.append(compressed.stdout)
            }
            #expect(outputs.allSatisfy { $0 == outputs[0] }, "\(input.name): outputs differ between thread counts")
            try cli.write(input.name + ".rpl", outputs[0])
            for threads in ["-T1", "-T2"] {
                let decompressed = try cli.run(["-d", "-c", threads, input.name + ".rpl"])
                #expect(decompressed.status == 0, "\(threads) \(input.name): \(decompressed.stderr)")
                #expect(decompressed.stdout == input.bytes, "\(threads) \(input.name): decoded bytes differ")
            }
        }
    }

    @Test("a store-backed compress is identical with -T2, against the same store state")
    func storeBacked() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let first = TestCorpus.redundant(3 << 20, uniqueFraction: 0.5, segment: 32 << 10, seed: 8)
        let second = first + TestCorpus.random(200_000, seed: 9)
        try cli.write("first", first)
        try cli.write("second", second)
        let seeded = try cli.run(["-c", "--store", "store", "first"])
        #expect(seeded.status == 0, "\(seeded.stderr)")
        // The store's identity is in the stream header, so both runs use copies of one store.
        try FileManager.default.copyItem(at: cli.url("store"), to: cli.url("copy"))
        let one = try cli.run(["-c", "-T1", "--store", "store", "second"])
        let two = try cli.run(["-c", "-T2", "--store", "copy", "second"])
        #expect(one.status == 0 && two.status == 0, "\(one.stderr) \(two.stderr)")
        #expect(one.stdout == two.stdout)
        #expect(two.stdout.count < second.count / 2, "the second run references what the store holds")
    }

    @Test("a corrupt stream fails with -T2 as with -T1, naming the problem, and writes no output file")
    func corruptInput() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let data = TestCorpus.text(2 << 20)
        try cli.write("data", data)
        let compressed = try cli.run(["-c", "data"])
        var damaged = compressed.stdout
        damaged[damaged.count / 2] ^= 0x40
        try cli.write("bad.rpl", damaged)
        var messages: [String] = []
        for threads in ["-T1", "-T2"] {
            let run = try cli.run(["-d", threads, "bad.rpl"])
            #expect(run.status == 1)
            #expect(!cli.exists("bad"), "\(threads): a failed decode leaves no output")
            messages.append(run.stderr)
        }
        #expect(messages[0] == messages[1] && messages[0].hasPrefix("replica: bad.rpl: "), "\(messages)")
    }

    @Test("thread counts out of range are refused", arguments: [["-T", "-1"], ["-T999"], ["--threads", "x"]])
    func refused(arguments: [String]) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("a", [1, 2, 3])
        let run = try cli.run(arguments + ["a"])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("replica: "))
    }
}
