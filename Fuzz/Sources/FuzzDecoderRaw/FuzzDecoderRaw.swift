import FuzzSupport
import ReplicaCore

// The stream decoder on raw input: checksums stay as the fuzzer mutates them, so this harness exercises framing,
// limits and check verification (FuzzDecoderChecked reaches past them). Input arrives whole or in 7-byte pieces,
// with a store holding the seeds' reference chunks. A crash, a trap, a leak or content that passes the cap is a
// finding; a thrown error is the expected outcome.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt { Harness.initializeStreams() }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Harness.bytes(start, count)
    guard let decoder = try? StreamDecoder(options: DecoderOptions(memoryLimit: 64 << 20), store: Corpus.referenceStore())
    else { return 0 }
    if count % 2 == 0 {
        _ = CheckFixer.decodeOnce(bytes, decoder, outputCap: 64 << 20)
        return 0
    }
    var output: [UInt8] = []
    do {
        for piece in stride(from: 0, to: bytes.count, by: 7) {
            try decoder.decode(Array(bytes[piece..<min(piece + 7, bytes.count)]), into: &output)
            if output.count > 64 << 20 { return 0 }
            output.removeAll(keepingCapacity: true)
        }
        try decoder.finish()
    } catch {
        if decoder.isComplete, (error as? FormatError)?.code != .trailingData {
            Harness.fail("a complete stream then failed with \(error)")
        }
    }
    return 0
}
