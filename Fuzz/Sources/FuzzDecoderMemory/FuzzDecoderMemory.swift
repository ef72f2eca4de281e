import FuzzSupport
import ReplicaCore

// Fails when decoding needs more heap than the decoder's memory limit: the limit is the property under test, not
// only the absence of crashes. Checks are recomputed (CheckFixer) so the stream reaches the window and the codecs.
// The heap is AddressSanitizer's count of live bytes, its peak taken on every malloc; the allowance above the
// limit covers the harness's copies of the input (four at most) and 1 MiB of runtime noise. The limit is small
// (4 MiB: lz4 and raw streams with small windows fit, zstd's 16 MiB history does not), so a violation needs only a
// small input; Fuzz/Corpus/memory holds a hand-made stream that pins block bodies in the window (issue 12).

let memoryLimit = 4 << 20
let hooked = Heap.install()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt {
    if !hooked { Harness.fail("FuzzDecoderMemory needs AddressSanitizer (swiftc -sanitize=fuzzer,address)") }
    Harness.writeSeedsIfAsked { [("lz4-window-pinning", try Corpus.windowPinningStream())] }
    return Harness.initializeStreams()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = Harness.bytes(start, count)
    let store = Corpus.referenceStore(capacity: 64 << 10)
    let baseline = Heap.live
    Heap.resetPeak()
    CheckFixer.decode(input, rounds: 3, outputCap: 256 << 20) {
        try StreamDecoder(options: DecoderOptions(memoryLimit: memoryLimit), store: store)
    }
    let used = Heap.peak - baseline
    let allowance = memoryLimit + 4 * count + (1 << 20)
    if used > allowance {
        Harness.fail("decoding \(count) bytes peaked at \(used) heap bytes; the decoder's limit is \(memoryLimit)")
    }
    return 0
}
