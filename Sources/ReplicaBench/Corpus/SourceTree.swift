/// A synthetic source tree that evolves by small edits, like successive releases of a project.
///
/// Files are lists of code-like lines built from a fixed vocabulary. ``evolve(_:)`` edits a few files per
/// version: lines replaced, inserted and deleted, the odd file added or removed, so consecutive versions share
/// most of their bytes at shifted offsets, which is what content-defined chunking is for.
struct SourceTree {
    private var files: [[[UInt8]]] = []
    private var names: [[UInt8]] = []
    private var generator: SeededGenerator
    private let words: [[UInt8]]
    private var nextFileNumber = 0

    /// Creates version 0 of a tree of about `size` bytes.
    init(seed: UInt64, size: Int) {
        generator = SeededGenerator(seed: seed, stream: 1)
        words = Self.vocabulary(&generator)
        var total = 0
        while total < size {
            let file = makeFile()
            total += file.reduce(0) { $0 + $1.count } + 64
            files.append(file)
            names.append(makeName())
        }
    }

    /// The tree as one buffer: each file as a header line with its path, then its lines.
    func serialized() -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, lines) in zip(names, files) {
            bytes += Array("==> src/".utf8) + name + Array(" <==\n".utf8)
            for line in lines { bytes += line }
        }
        return bytes
    }

    /// Moves to the next version: edits about `percent` percent of the files and adds or removes one.
    mutating func evolve(editing percent: Int = 3) {
        let edits = max(1, files.count * percent / 100)
        for _ in 0..<edits {
            let index = generator.below(files.count)
            var file = files[index]
            for _ in 0..<generator.within(1...4) { edit(&file) }
            files[index] = file
        }
        if generator.chance(50) {
            let index = generator.below(files.count + 1)
            files.insert(makeFile(), at: index)
            names.insert(makeName(), at: index)
        } else if files.count > 2 {
            let index = generator.below(files.count)
            files.remove(at: index)
            names.remove(at: index)
        }
    }

    private mutating func edit(_ file: inout [[UInt8]]) {
        let at = generator.below(file.count + 1)
        switch generator.below(3) {
        case 0 where at < file.count:
            file[at] = makeLine(indent: generator.below(4))
        case 1:
            let lines = (0..<generator.within(1...8)).map { _ in makeLine(indent: generator.below(4)) }
            file.insert(contentsOf: lines, at: at)
        default:
            let count = min(generator.within(1...6), file.count - min(at, file.count))
            file.removeSubrange(min(at, file.count)..<min(at, file.count) + count)
        }
    }

    private mutating func makeName() -> [UInt8] {
        nextFileNumber += 1
        return words[generator.below(words.count)] + Array("/\(nextFileNumber)_".utf8)
            + words[generator.below(words.count)] + Array(".swift".utf8)
    }

    private mutating func makeFile() -> [[UInt8]] {
        var lines: [[UInt8]] = [Array("// Copyright the project authors. Licensed under Apache 2.0.\n".utf8)]
        var depth = 0
        for _ in 0..<generator.within(20...400) {
            if depth > 0 && generator.chance(15) {
                depth -= 1
                lines.append(Array(repeating: 0x20, count: depth * 4) + Array("}\n".utf8))
            } else if depth < 4 && generator.chance(15) {
                lines.append(makeOpening(indent: depth))
                depth += 1
            } else {
                lines.append(makeLine(indent: depth))
            }
        }
        for level in stride(from: depth - 1, through: 0, by: -1) {
            lines.append(Array(repeating: 0x20, count: level * 4) + Array("}\n".utf8))
        }
        return lines
    }

    private mutating func word() -> [UInt8] { words[generator.below(words.count)] }

    private mutating func makeOpening(indent: Int) -> [UInt8] {
        var line = Array(repeating: UInt8(0x20), count: indent * 4)
        switch generator.below(3) {
        case 0: line += Array("func ".utf8) + word() + Array("(_ ".utf8) + word() + Array(": Int) -> Int {\n".utf8)
        case 1: line += Array("if ".utf8) + word() + Array(" < \(generator.below(1000)) {\n".utf8)
        default: line += Array("for ".utf8) + word() + Array(" in 0..<".utf8) + word() + Array(".count {\n".utf8)
        }
        return line
    }

    private mutating func makeLine(indent: Int) -> [UInt8] {
        var line = Array(repeating: UInt8(0x20), count: indent * 4)
        switch generator.below(5) {
        case 0:
            line += Array("// ".utf8)
            for _ in 0..<generator.within(3...10) { line += word() + [0x20] }
        case 1: line += Array("let ".utf8) + word() + Array(" = ".utf8) + word() + [0x28] + word() + Array(")".utf8)
        case 2: line += word() + Array(" += ".utf8) + word() + Array(".count * \(generator.below(64))".utf8)
        case 3: line += Array("return ".utf8) + word() + Array(" + ".utf8) + word()
        default:
            line += Array("try ".utf8) + word() + [0x2E] + word() + Array("(\"".utf8) + word() + Array("\")".utf8)
        }
        line.append(0x0A)
        return line
    }

    /// About 600 pronounceable identifiers, some camel-cased.
    private static func vocabulary(_ generator: inout SeededGenerator) -> [[UInt8]] {
        let syllables = ["ba", "ce", "di", "fo", "gu", "ha", "ke", "li", "mo", "nu", "pa", "re", "si", "to", "vu",
            "wa", "xe", "yo", "za", "chunk", "store", "read", "write", "buf", "len", "idx", "map", "node"]
        return (0..<600).map { _ in
            var word = ""
            for part in 0..<generator.within(2...4) {
                let syllable = syllables[generator.below(syllables.count)]
                word += part > 0 && generator.chance(30) ? syllable.capitalized : syllable
            }
            return Array(word.utf8)
        }
    }
}

extension String {
    /// The string with its first letter upper-cased (ASCII only: the vocabulary is ASCII).
    fileprivate var capitalized: String { prefix(1).uppercased() + dropFirst() }
}
