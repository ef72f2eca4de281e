#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The memory cap of this process's control group, and what the tunnel's buffers may use of it.
enum MemoryCap {
    /// The cgroup v2 `memory.max`, else the cgroup v1 `memory.limit_in_bytes`; nil when neither sets a limit.
    static func fromControlGroup(root: String = "/sys/fs/cgroup", selfCgroup: String = "/proc/self/cgroup") -> Int? {
        let membership = readText(selfCgroup) ?? ""
        var candidates: [String] = []
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                candidates += ["\(root)\(fields[2])/memory.max", "\(root)/memory.max"]
            } else if fields[1].split(separator: ",").contains("memory") {
                candidates += [
                    "\(root)/memory\(fields[2])/memory.limit_in_bytes", "\(root)/memory/memory.limit_in_bytes",
                ]
            }
        }
        for path in candidates {
            guard let text = readText(path)?.split(separator: "\n").first, text != "max",
                let value = Int(text)
            else { continue }
            // cgroup v1 reports "no limit" as a huge page-aligned number.
            if value > 0 && value < (1 << 62) { return value }
        }
        return nil
    }

    /// A whole small file, or nil when it cannot be read.
    static func readText(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What the accelerator's memory is sized to under a cap `C`. Each share is taken only where it is below the
    /// configured value (budgets only ever go down), and each has a floor so a tiny cap still works:
    ///
    /// | what | share of `C` | floor | default (no cap) |
    /// |---|---|---|---|
    /// | link budget (decoded bytes in flight per direction; the sender retains as much) | C/8 | the stream window | 64 MiB |
    /// | stream window | link budget / 8 | 4 KiB | 1 MiB |
    /// | streams per link | one per 256 KiB of C | 16 | 4096 |
    /// | encoder reference window (and zstd's long window, per direction) | C/16 | 1 MiB | 32 MiB |
    /// | decoder memory limit (the peer's window must fit) | C/2 | 16 MiB | 128 MiB |
    /// | reply queue bytes | C/64 | 1 MiB | 16 MiB |
    /// | held-frame (miss) queue bytes | C/32 | 4 MiB | 16 MiB |
    /// | chunks remembered per peer store (56 B each) | C/64 | 1024 | 262,144 |
    /// | store index (created disk store: capacity × 48 B / 8 KiB; memory store: its bytes) | C/4 | 1 MiB of store | 50 GiB disk, 256 MiB memory |
    struct Budgets: Equatable {
        var linkBudget: Int
        var streamWindow: Int
        var maximumStreams: Int
        var windowSize: Int
        var decoderMemoryLimit: Int
        var controlQueueBytes: Int
        var missQueueBytes: Int
        var knownChunksPerPeer: Int
        /// The most store bytes whose index fits the index share (disk) or that fit it themselves (memory).
        var diskStoreCapacity: Int
        var memoryStoreCapacity: Int
    }

    /// The index RAM a disk store needs per chunk at worst (28 to 43 B, `docs/STORE.md`), rounded up.
    static let indexBytesPerChunk = 48
    /// The tunnel's average chunk size.
    static let averageChunkSize = 8 << 10

    /// The defaults, used without a cap.
    static let uncapped = Budgets(
        linkBudget: 64 << 20, streamWindow: 1 << 20, maximumStreams: 4096, windowSize: 32 << 20,
        decoderMemoryLimit: 128 << 20, controlQueueBytes: 16 << 20, missQueueBytes: 16 << 20,
        knownChunksPerPeer: 1 << 18, diskStoreCapacity: 50 << 30, memoryStoreCapacity: 256 << 20)

    /// Budgets that fit `cap`, never above the requested ones (`requested`; see ``Budgets`` for the formula).
    static func budgets(cap: Int, requested: Budgets = uncapped) -> Budgets {
        func share(_ wanted: Int, _ part: Int, floor: Int) -> Int { min(wanted, max(floor, part)) }
        let window = min(requested.streamWindow, max(4 << 10, min(requested.linkBudget, cap / 8) / 8))
        let link = max(window, min(requested.linkBudget, cap / 8))
        let indexShare = cap / 4
        return Budgets(
            linkBudget: link,
            streamWindow: window,
            maximumStreams: share(requested.maximumStreams, cap / (256 << 10), floor: 16),
            windowSize: share(requested.windowSize, cap / 16, floor: 1 << 20),
            decoderMemoryLimit: share(requested.decoderMemoryLimit, cap / 2, floor: 16 << 20),
            controlQueueBytes: share(requested.controlQueueBytes, cap / 64, floor: 1 << 20),
            missQueueBytes: share(requested.missQueueBytes, cap / 32, floor: 4 << 20),
            knownChunksPerPeer: share(requested.knownChunksPerPeer, cap / 64 / 56, floor: 1024),
            diskStoreCapacity: share(
                requested.diskStoreCapacity, indexShare / indexBytesPerChunk * averageChunkSize, floor: 1 << 20),
            memoryStoreCapacity: share(requested.memoryStoreCapacity, indexShare, floor: 1 << 20))
    }
}
