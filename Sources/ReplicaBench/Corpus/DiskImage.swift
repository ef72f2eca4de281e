/// Synthetic VM-image-like data: 4 KiB blocks of zeros, text, low-entropy binaries, compressed files and
/// copies of earlier blocks; a next version overwrites a few regions, shifts data by a few bytes and moves
/// whole regions elsewhere, as a guest's file system does between two snapshots.
enum DiskImage {
    static let blockSize = 4096

    /// Version 0 of an image of exactly `size` bytes.
    static func base(seed: UInt64, size: Int) -> [UInt8] {
        var generator = SeededGenerator(seed: seed, stream: 2)
        var image: [UInt8] = []
        image.reserveCapacity(size + blockSize)
        while image.count < size {
            appendBlock(to: &image, &generator)
        }
        image.removeLast(image.count - size)
        return image
    }

    /// The version after `image`: the same size, with overwritten, shifted and moved regions.
    static func nextVersion(of image: [UInt8], seed: UInt64, version: Int) -> [UInt8] {
        var generator = SeededGenerator(seed: seed, stream: 100 + UInt64(version))
        var next = image
        let size = image.count
        guard size >= 1 << 16 else { return next }
        let operations = max(4, size >> 20)
        for _ in 0..<operations {
            switch generator.below(3) {
            case 0:
                // Overwrite a few blocks in place (a file rewritten).
                var fresh: [UInt8] = []
                for _ in 0..<generator.within(1...8) { appendBlock(to: &fresh, &generator) }
                let at = generator.below(size - fresh.count)
                next.replaceSubrange(at..<at + fresh.count, with: fresh)
            case 1:
                // Insert a few bytes, shifting everything after them (a grown log or metadata record).
                var inserted: [UInt8] = []
                generator.fill(&inserted, count: generator.within(1...300))
                next.insert(contentsOf: inserted, at: generator.below(size))
                next.removeLast(inserted.count)
            default:
                // Move a region elsewhere (defragmentation, a file copied then deleted).
                let length = min(size / 4, generator.within(16 << 10...1 << 20))
                let from = generator.below(size - length)
                let region = Array(next[from..<from + length])
                next.removeSubrange(from..<from + length)
                next.insert(contentsOf: region, at: generator.below(next.count))
            }
        }
        return next
    }

    private static func appendBlock(to image: inout [UInt8], _ generator: inout SeededGenerator) {
        let start = image.count
        switch generator.below(100) {
        case 0..<20:
            image += repeatElement(0, count: blockSize)
        case 20..<45:
            // Text: words of a small alphabet with spaces and newlines.
            while image.count - start < blockSize {
                let length = generator.within(2...9)
                for _ in 0..<length { image.append(0x61 &+ UInt8(generator.below(12))) }
                image.append(generator.chance(10) ? 0x0A : 0x20)
            }
        case 45..<75:
            // Machine code and tables: mostly small values.
            while image.count - start < blockSize {
                let value = generator.next()
                image.append(UInt8(value & 0x0F))
                image.append(UInt8((value >> 8) & 0x3))
                image.append(value >> 16 & 0x7 == 0 ? UInt8(truncatingIfNeeded: value >> 24) : 0)
                image.append(0x48)
            }
        case 75..<88 where start >= blockSize:
            // A copy of an earlier block (shared libraries, duplicated files).
            let source = generator.below(start / blockSize) * blockSize
            let copy = Array(image[source..<source + blockSize])
            image += copy
        default:
            // Compressed or encrypted file contents.
            generator.fill(&image, count: blockSize)
        }
        image.removeLast(image.count - start - blockSize)
    }
}
