import CFuzzSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `LLVMFuzzerInitialize`'s `argv`.
public typealias FuzzArguments = UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>

/// What every harness shares: its input as an array, seed writing, and a failure that libFuzzer reports.
public enum Harness {
    /// The input libFuzzer passes, copied.
    public static func bytes(_ start: UnsafeRawPointer?, _ count: Int) -> [UInt8] {
        guard let start, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// When `REPLICA_FUZZ_SEEDS` names a directory, writes `seeds()` there as files and exits: `make fuzz-seeds`
    /// runs each harness so, to regenerate `Fuzz/Corpus/<harness>/` from the real encoder.
    public static func writeSeedsIfAsked(_ seeds: () throws -> [(name: String, bytes: [UInt8])]) {
        guard let directory = getenv("REPLICA_FUZZ_SEEDS").map({ String(cString: $0) }) else { return }
        do {
            for seed in try seeds() {
                let path = directory + "/" + seed.name
                guard let file = fopen(path, "wb") else { fail("cannot write \(path)") }
                _ = seed.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
                fclose(file)
            }
        } catch {
            fail("seeds: \(error)")
        }
        exit(0)
    }

    /// `LLVMFuzzerInitialize` for the harnesses that take streams: seeds from ``Corpus/streams()``.
    public static func initializeStreams() -> CInt {
        writeSeedsIfAsked { try Corpus.streams() }
        _ = Corpus.baseChunks
        return 0
    }

    /// Reports a finding: prints `message` and aborts, which libFuzzer records as a crash with its input.
    public static func fail(_ message: String) -> Never {
        let line = Array("FUZZ FAILURE: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        abort()
    }

    /// XXH3-64, for recomputing checks.
    public static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        fuzz_xxh3_64(bytes.baseAddress, bytes.count)
    }
}

/// Heap accounting through the sanitizer allocator (see `CFuzzSupport`).
public enum Heap {
    /// Installs the malloc hook; `false` without AddressSanitizer.
    public static func install() -> Bool { fuzz_heap_install() != 0 }
    /// Bytes allocated and not freed.
    public static var live: Int { fuzz_heap_live() }
    /// The highest ``live`` since ``resetPeak()``.
    public static var peak: Int { fuzz_heap_peak() }
    /// Starts a new peak.
    public static func resetPeak() { fuzz_heap_reset_peak() }
}
