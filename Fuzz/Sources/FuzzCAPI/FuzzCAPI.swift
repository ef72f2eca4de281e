import FuzzSupport
import ReplicaC

// The C ABI, through the functions behind replica.h (the @_cdecl entry points, called directly): the input is
// decoded one-shot into a small and a large destination, streamed through a decoder context with 61..3904-byte
// buffers chosen by the input, and compressed then decompressed, which must give the input back.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt { Harness.initializeStreams() }

/// A `replica_in_buffer` or `replica_out_buffer`: three words {ptr, size, pos}.
struct CBuffer {
    var pointer: UnsafeRawPointer?
    var size: UInt
    var position: UInt
}

func isError(_ result: UInt) -> Bool { replicaIsError(result) != 0 }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = Harness.bytes(start, count)
    var output = [UInt8](repeating: 0, count: 256 << 10)
    input.withUnsafeBytes { source in
        output.withUnsafeMutableBytes { destination in
            let large = replicaDecompress(destination.baseAddress, UInt(destination.count), source.baseAddress, UInt(source.count))
            let small = replicaDecompress(destination.baseAddress, 64, source.baseAddress, UInt(source.count))
            if !isError(large), large > 64, !isError(small) {
                Harness.fail("\(large) bytes decoded into a 64-byte destination")
            }
            streamDecode(source, destination, step: (Int(input.first ?? 0) % 64 + 1) * 61, expected: large)
        }
    }
    // One input in eight also round-trips: a one-shot compress costs about 20 ms (a fresh zstd context and
    // chunker each call), far more than the decoding above.
    if input.count % 8 == 0 { roundTrip(input) }
    return 0
}

/// Streams `source` through a dctx in `step`-byte pieces; its verdict must agree with the one-shot call.
func streamDecode(_ source: UnsafeRawBufferPointer, _ destination: UnsafeMutableRawBufferPointer, step: Int, expected: UInt) {
    guard let context = replicaCreateDCtx() else { Harness.fail("no dctx") }
    defer { _ = replicaFreeDCtx(context) }
    _ = replicaDCtxSetMemoryLimit(context, 64 << 20)
    var written = 0
    var offset = 0
    var result: UInt = 1
    while offset < source.count && !isError(result) {
        let piece = min(step, source.count - offset)
        var input = CBuffer(pointer: source.baseAddress.map { $0 + offset }, size: UInt(piece), position: 0)
        repeat {
            let room = min(step, destination.count - written)
            var output = CBuffer(pointer: UnsafeRawPointer(destination.baseAddress.map { $0 + written }), size: UInt(room), position: 0)
            result = replicaDecompressStream(context, &output, &input)
            written += Int(output.position)
            if room == 0 && !isError(result) && result > 1 { return }  // more content than the destination holds
        } while !isError(result) && (input.position < input.size || result > 1)
        offset += piece
    }
    while !isError(result) {
        let room = min(step, destination.count - written)
        var output = CBuffer(pointer: UnsafeRawPointer(destination.baseAddress.map { $0 + written }), size: UInt(room), position: 0)
        result = replicaDecompressEnd(context, &output)
        written += Int(output.position)
        if result == 0 || room == 0 { break }
    }
    let comparable = ![41, 16].contains(replicaGetErrorCode(expected)) && replicaGetErrorCode(result) != 16
    if comparable && isError(expected) != isError(result) {
        Harness.fail("one-shot says \(replicaGetErrorCode(expected)), streaming says \(replicaGetErrorCode(result))")
    }
    if comparable, !isError(expected), !isError(result), written != Int(expected) {
        Harness.fail("one-shot decoded \(expected) bytes, streaming \(written)")
    }
}

/// Compresses the input at a level it picks, and decompresses it: the bytes must come back.
func roundTrip(_ input: [UInt8]) {
    let level = CInt(Int(input.last ?? 0) % 9) - 3  // -3...5: higher levels cost more time than they add paths
    let bound = replicaCompressBound(UInt(input.count))
    var stream = [UInt8](repeating: 0, count: Int(bound))
    let size = input.withUnsafeBytes { source in
        stream.withUnsafeMutableBytes { replicaCompress($0.baseAddress, bound, source.baseAddress, UInt(source.count), level) }
    }
    guard !isError(size) else {
        if replicaGetErrorCode(size) == 43 { return }  // a level outside zstd's range
        Harness.fail("compress failed: \(replicaGetErrorCode(size))")
    }
    var back = [UInt8](repeating: 0, count: input.count)
    let got = stream.withUnsafeBytes { source in
        back.withUnsafeMutableBytes { replicaDecompress($0.baseAddress, UInt($0.count), source.baseAddress, size) }
    }
    if got != UInt(input.count) || back != input {
        Harness.fail("round trip of \(input.count) bytes gave \(got)")
    }
}
