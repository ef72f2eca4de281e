// The child process of the disk store's crash test (`DiskChunkStoreCrashTests`): it writes to a store until the
// test kills it with SIGKILL, and after every sync prints "ack N R" (the first N chunks of its sequence are
// durable, and so are the removals among them, R being how many) on standard output.
//
// Usage: StoreCrashChild DIR MODE ROUND, with MODE one of
//   plain    chunks and removals, lz4-compressed, in a store large enough never to evict;
//   evict    chunks through a 1 MiB store that evicts constantly, re-putting old ones for CLOCK's second chance;
//   compact  chunks, removals of most of them, and a compaction after every batch.
// The chunk contents are a pure function of (round, index); the test computes the same bytes.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ReplicaCore

/// Chunk `index` of round `round`: 256 to 16 KiB of a pattern that lz4 compresses somewhat.
func chunk(round: Int, index: Int) -> [UInt8] {
    let size = 256 + (index &* 7919 &+ round &* 104_729) % 16_128
    return (0..<size).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ (index &* 131) ^ (round &* 7) ^ ($0 >> 7 &* index)) }
}

/// Whether chunk `index` is removed, at step `index + 3`.
func isRemoved(_ index: Int, mode: String) -> Bool {
    mode == "compact" ? index % 4 != 0 : mode == "plain" && index % 5 == 1
}

func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let round = Int(arguments[3]) else {
    say("usage: StoreCrashChild DIR plain|evict|compact ROUND")
    exit(2)
}
let (directory, mode) = (arguments[1], arguments[2])
do {
    let options = try DiskChunkStore.Options(
        capacity: mode == "evict" ? 1 << 20 : 32 << 20, segmentSize: mode == "evict" ? 64 << 10 : 256 << 10,
        durability: .onClose, compression: mode == "plain" ? .lz4 : .none)
    let store = try DiskChunkStore(directory: directory, options: options)
    let fingerprinter = Fingerprinter()
    var removed = 0
    var index = 0
    while index < 100_000 {
        let bytes = chunk(round: round, index: index)
        try bytes.withUnsafeBytes { try store.put($0, as: fingerprinter.fingerprint(bytes)) }
        if index >= 3, isRemoved(index - 3, mode: mode) {
            try store.remove(fingerprinter.fingerprint(chunk(round: round, index: index - 3)))
            removed += 1
        }
        if mode == "evict", index % 3 == 0, index >= 8 {
            let old = chunk(round: round, index: index - 8)
            try old.withUnsafeBytes { try store.put($0, as: fingerprinter.fingerprint(old)) }
        }
        index += 1
        if index % 16 == 0 {
            if mode == "compact" { try store.compact() }
            try store.flush()
            say("ack \(index) \(removed)")
        }
    }
    try store.close()
} catch {
    say("error \(error)")
    exit(1)
}
