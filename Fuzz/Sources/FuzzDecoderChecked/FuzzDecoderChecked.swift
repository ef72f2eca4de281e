import FuzzSupport
import ReplicaCore

#if canImport(Glibc)
import Glibc
#endif

// The stream decoder after every check has been recomputed (CheckFixer), so mutations reach the block parser,
// the codecs, the operations, the window and the store lookups. For store-backed headers the decoder's
// store holds the seeds' reference chunks, so store references and store-prefixed blocks resolve.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt { Harness.initializeStreams() }

/// `REPLICA_FUZZ_VERBOSE=1` prints each input's outcome (to see which checks the fixer gets past).
let verbose = getenv("REPLICA_FUZZ_VERBOSE") != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = Harness.bytes(start, count)
    // A store only for store-backed headers (flag bit 0 of byte 5): filling it is about a quarter of the
    // harness's CPU time (perf, docs/FUZZING.md). One per input, shared by the fixer's rounds (a later round may
    // also find what an earlier one stored); most inputs take one round, so this saved no measurable time.
    let storeBacked = input.count > 5 && input[5] & 1 != 0
    let store = storeBacked ? Corpus.referenceStore() : nil
    let error = CheckFixer.decode(input) {
        try StreamDecoder(options: DecoderOptions(memoryLimit: 64 << 20), store: store)
    }
    if verbose { print("\(count) bytes: \(error.map { "\($0)" } ?? "decoded")") }
    return 0
}
