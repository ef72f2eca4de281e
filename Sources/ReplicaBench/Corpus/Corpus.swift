import ArgumentParser

/// The synthetic corpora: deterministic from a seed, at any size.
enum CorpusKind: String, CaseIterable, ExpressibleByArgument, Codable {
    /// Successive versions of a source tree with small edits, insertions and deletions, one after another.
    case source
    /// A VM-image-like disk and its next snapshot, with overwritten, shifted and moved regions.
    case vm
    /// Service log lines from repeating templates.
    case logs
    /// Incompressible random bytes.
    case random
    /// A quarter of each of the above, concatenated.
    case mix

    /// One line for the help text and the report.
    var summary: String {
        switch self {
        case .source: "four successive versions of a source tree, concatenated"
        case .vm: "a disk image and its next snapshot (shifted, moved, overwritten regions)"
        case .logs: "log lines from templates with fresh timestamps and IDs"
        case .random: "incompressible random bytes"
        case .mix: "a quarter each of source, vm, logs and random"
        }
    }

    /// Exactly `size` bytes of this corpus.
    func generate(seed: UInt64, size: Int) -> [UInt8] {
        var bytes: [UInt8]
        switch self {
        case .source:
            bytes = []
            bytes.reserveCapacity(size)
            for version in Self.sourceVersions(seed: seed, size: max(1, size / 4), count: 5) {
                bytes += version
                if bytes.count >= size { break }
            }
        case .vm:
            let base = DiskImage.base(seed: seed, size: size / 2)
            bytes = base + DiskImage.nextVersion(of: base, seed: seed, version: 1)
            bytes += repeatElement(0, count: size - bytes.count)
        case .logs:
            bytes = LogLines.generate(seed: seed, size: size)
        case .random:
            var generator = SeededGenerator(seed: seed, stream: 4)
            bytes = []
            bytes.reserveCapacity(size + 8)
            generator.fill(&bytes, count: size)
        case .mix:
            let quarter = size / 4
            bytes = Self.source.generate(seed: seed, size: quarter) + Self.logs.generate(seed: seed, size: quarter)
                + Self.vm.generate(seed: seed, size: quarter)
                + Self.random.generate(seed: seed, size: size - 3 * quarter)
        }
        if bytes.count > size { bytes.removeLast(bytes.count - size) }
        return bytes
    }

    /// `count` successive versions of a source tree of about `size` bytes, for the WAN scenario.
    static func sourceVersions(seed: UInt64, size: Int, count: Int) -> [[UInt8]] {
        var tree = SourceTree(seed: seed, size: size)
        var versions = [tree.serialized()]
        while versions.count < count {
            tree.evolve()
            versions.append(tree.serialized())
        }
        return versions
    }

    /// `count` successive snapshots of a disk image of exactly `size` bytes.
    static func imageVersions(seed: UInt64, size: Int, count: Int) -> [[UInt8]] {
        var versions = [DiskImage.base(seed: seed, size: size)]
        while versions.count < count {
            versions.append(DiskImage.nextVersion(of: versions[versions.count - 1], seed: seed, version: versions.count))
        }
        return versions
    }
}
