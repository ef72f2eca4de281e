import FuzzSupport
import ReplicaCore

// Fails when decoding needs more heap than the decoder's memory limit: the limit is the property under test, not
// only the absence of crashes. Checks are recomputed (CheckFixer) so the stream reaches the window and the codecs.
// The heap is AddressSanitizer's count of live bytes, its peak taken on every malloc; the allowance above the
// limit covers the harness's copies of the input (four at most) and 1 MiB of runtime noise. The limit is 32 MiB:
// since h-core's accounting (zstd history counted for every stream) the smallest headers need about 22 MB.
// Fuzz/Corpus/memory holds a hand-made stream that pinned block bodies in the window (issue 12): 7.0 MB of heap
// under the old decoder, which this harness caught at a 4 MiB limit.

let memoryLimit = 32 << 20
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
