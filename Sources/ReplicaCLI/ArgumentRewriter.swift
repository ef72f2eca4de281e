import ArgumentParser

/// Turns zstd's spellings, which ArgumentParser cannot declare, into the ones it can: `-d` and `-t` (alone or
/// in a bundle such as `-dc`) select decompress and test, and `-1` ... `-19` become `--level N` for compress.
enum ArgumentRewriter {
    /// The names that select a command when they come first: every subcommand's name and aliases, and `help`.
    static let commandNames: Set<String> = Set(
        ReplicaCommand.configuration.subcommands.flatMap { command in
            [command.configuration.commandName ?? ""] + command.configuration.aliases
        } + ["help"])
    /// Options whose next argument is a value, never a flag.
    private static let optionsWithValue: Set<String> = [
        "-o", "--output", "-T", "--threads", "--codec", "--chunk-size", "--window", "--memory", "--level",
        "--progress-delay", "--store",
    ]
    /// zstd's mode flags, alone or in a bundle such as `-dc`, and the commands they select.
    private static let modes: [Character: String] = ["d": "decompress", "t": "test"]
    private static let longModes = ["--decompress": "decompress", "--test": "test"]
    /// Short flags that may share a bundle with a mode flag.
    private static let bundlableFlags: Set<Character> = ["c", "f", "k", "q", "v"]

    /// Rewrites the arguments after the program name.
    static func rewrite(_ arguments: [String]) -> [String] {
        if let first = arguments.first, commandNames.contains(first) {
            let rest = Array(arguments.dropFirst())
            return [first] + (["compress", "c"].contains(first) ? levelsRewritten(rest) : rest)
        }
        var command: String?
        let rewritten = map(arguments) { argument in
            if let mode = longModes[argument] {
                command = mode
                return []
            }
            guard let flags = bundle(argument), let mode = flags.first(where: { modes[$0] != nil }),
                flags.allSatisfy({ $0 == mode || bundlableFlags.contains($0) })
            else { return [argument] }
            command = modes[mode]
            let others = flags.filter { $0 != mode }
            return others.isEmpty ? [] : ["-" + others]
        }
        if let command { return [command] + rewritten }
        return levelsRewritten(rewritten)
    }

    /// Replaces each argument by what `transform` returns, leaving alone the values of options that take
    /// one and everything after `--`.
    private static func map(_ arguments: [String], _ transform: (String) -> [String]) -> [String] {
        var rewritten: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                rewritten += arguments[index...]
                break
            }
            if optionsWithValue.contains(argument), index + 1 < arguments.count {
                rewritten += [argument, arguments[index + 1]]
                index += 2
                continue
            }
            rewritten += transform(argument)
            index += 1
        }
        return rewritten
    }

    /// The letters of a bundle of short flags (`-dc` gives `dc`), or `nil`.
    private static func bundle(_ argument: String) -> String? {
        guard argument.count >= 2, argument.hasPrefix("-"), !argument.hasPrefix("--") else { return nil }
        let letters = argument.dropFirst()
        return letters.allSatisfy(\.isLetter) ? String(letters) : nil
    }

    /// Replaces each `-N` (N in 1...99) by `--level N`; 20 and above are left for `--level` to refuse.
    private static func levelsRewritten(_ arguments: [String]) -> [String] {
        map(arguments) { argument in
            let digits = argument.dropFirst()
            guard argument.hasPrefix("-"), (1...2).contains(digits.count), digits.allSatisfy(\.isASCII),
                let level = Int(digits), level > 0
            else { return [argument] }
            return ["--level", String(level)]
        }
    }
}
