import Foundation
import ReplicaTestSupport
import Testing

/// Signals and pipes: an interrupted run leaves no partial output, a closed pipe ends the process quietly.
@Suite("replica signals and pipes")
struct SignalTests {
    @Test(
        "SIGINT, SIGTERM and SIGHUP remove the temporary output and leave the target untouched",
        arguments: [SIGINT, SIGTERM, SIGHUP])
    func interrupted(signal: Int32) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("out.rpl", Array("previous contents".utf8))
        let input = Pipe()
        let process = try cli.start(["-f", "-o", "out.rpl"], stdinPipe: input)
        input.fileHandleForWriting.write(Data(TestCorpus.random(1 << 20, seed: 9)))
        // The temporary file exists once the run has started writing; the process then waits for more input.
        var waited = 0
        while try !cli.listing().contains(where: { $0.hasPrefix(".out.rpl.") }) && waited < 1000 {
            usleep(10_000)
            waited += 1
        }
        #expect(try cli.listing().contains(where: { $0.hasPrefix(".out.rpl.") }), "no temporary file appeared")
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        let outcome = try cli.outcome(of: process)
        #expect(outcome.signaled && outcome.status == signal, "status \(outcome.status): \(outcome.stderr)")
        #expect(try cli.listing() == ["out.rpl"])
        #expect(try cli.read("out.rpl") == Array("previous contents".utf8))
    }

    @Test("a closed pipe ends decompress quietly by SIGPIPE (status 141 in the shell)")
    func brokenPipe() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let sample = TestCorpus.text(4 << 20, seed: 8)
        try cli.write("big", sample)
        #expect(try cli.run(["big"]).status == 0)
        let outcome = try cli.shell(
            "\"$REPLICA\" -dc big.rpl | head -c 100 > head.bin; echo \"replica ${PIPESTATUS[0]}\" >&2")
        #expect(outcome.stderr == "replica 141\n")
        #expect(try cli.read("head.bin") == Array(sample.prefix(100)))
        let chunk = try cli.shell(
            "\"$REPLICA\" chunk --avg 64 big | head -n 1 > /dev/null; echo \"${PIPESTATUS[0]}\" >&2")
        #expect(chunk.stderr == "141\n")
        #expect(try cli.listing() == ["big", "big.rpl", "head.bin"])
    }
}
