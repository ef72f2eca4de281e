import FuzzSupport
import ReplicaCore

// The stream decoder after every check has been recomputed (CheckFixer), so mutations reach the block parser,
// the codecs, the operations, the window and the store lookups. For store-backed headers the decoder's
// store holds the seeds' reference chunks, so store references and store-prefixed blocks resolve.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt { Harness.initializeStreams() }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = Harness.bytes(start, count)
    // A store only for store-backed headers (flag bit 0 of byte 5): filling it is most of a short run's cost.
    let storeBacked = input.count > 5 && input[5] & 1 != 0
    CheckFixer.decode(input) {
        try StreamDecoder(
            options: DecoderOptions(memoryLimit: 64 << 20), store: storeBacked ? Corpus.referenceStore() : nil)
    }
    return 0
}
