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

    /// The tunnel's budgets under a cap: a quarter of it for the link budget, which bounds the decoded bytes in
    /// flight per direction over all streams together; a stream window of at most an eighth of that; and at most
    /// one stream per 256 KiB of the cap, for the per-flow socket buffers and state the budget does not count.
    struct Budgets: Equatable {
        var linkBudget: Int
        var streamWindow: Int
        var maximumStreams: Int
    }

    /// Budgets that fit `cap`, never above the requested ones.
    static func budgets(cap: Int, linkBudget: Int, streamWindow: Int, maximumStreams: Int) -> Budgets {
        let link = max(streamWindow, min(linkBudget, cap / 4))
        let window = min(streamWindow, max(4 << 10, link / 8))
        let streams = max(16, min(maximumStreams, cap / (256 << 10)))
        return Budgets(linkBudget: max(window, link), streamWindow: window, maximumStreams: streams)
    }
}
