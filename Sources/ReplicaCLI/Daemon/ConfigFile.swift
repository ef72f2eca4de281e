import ArgumentParser
import Yams

/// A problem in a config file, naming the file, the line, the key and the reason.
struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The file.
    var file: String
    /// The 1-based line, or 0 when the problem has no line (an unreadable file).
    var line: Int
    /// The key, or empty when the problem is not about one key.
    var key: String
    /// What is wrong.
    var reason: String

    var description: String {
        "\(file)\(line > 0 ? ":\(line)" : ""): \(key.isEmpty ? "" : "\(key): ")\(reason)"
    }
}

/// A `replica tunnel` config file: a YAML mapping whose keys are the long option names of `replica tunnel server`
/// or `client` (without dashes), plus `role: server|client`.
///
/// ```yaml
/// role: client
/// peer: hub.example:7000
/// forward: ["127.0.0.1:8080:intranet:80"]
/// store: /var/lib/replica/store
/// ```
///
/// A scalar becomes `--key value`, a list `--key item` per item (comma-joined for `allow`), `true` a flag and
/// `false` nothing. Options given on the command line win over the file. Every option is still checked by the
/// command's own parser, and its complaint is traced back to the key's line.
struct ConfigFile {
    /// One setting and where it was written.
    struct Entry: Equatable {
        var key: String
        var line: Int
        var arguments: [String]
    }

    /// Keys whose list is one comma-separated option.
    static let commaJoined: Set<String> = ["allow"]
    /// Short spellings of options, so a command-line `-L` overrides the file's `forward`.
    static let shortNames: [String: String] = ["L": "forward", "q": "quiet"]

    let path: String
    let role: (value: String, line: Int)?
    let entries: [Entry]

    /// Reads and parses `path`.
    ///
    /// - Throws: ``ConfigError`` for an unreadable file, invalid YAML, a top level that is not a mapping, a
    ///   value of the wrong shape, or a key given twice.
    init(path: String) throws(ConfigError) {
        self.path = path
        guard let text = MemoryCap.readText(path) else {
            throw ConfigError(file: path, line: 0, key: "", reason: "cannot read the file")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Self.translate(error, path: path)
        } catch {
            throw ConfigError(file: path, line: 0, key: "", reason: "\(error)")
        }
        guard let node else { throw ConfigError(file: path, line: 1, key: "", reason: "the file is empty") }
        guard let mapping = node.mapping else {
            throw ConfigError(file: path, line: node.mark?.line ?? 1, key: "", reason: "expected a mapping of options")
        }
        var role: (String, Int)?
        var entries: [Entry] = []
        for (keyNode, value) in mapping {
            let line = keyNode.mark?.line ?? 0
            guard let key = keyNode.scalar?.string, !key.isEmpty else {
                throw ConfigError(file: path, line: line, key: "", reason: "a key must be a plain name")
            }
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), key.first?.isLetter == true else {
                throw ConfigError(file: path, line: line, key: key, reason: "not an option name")
            }
            if key == "role" {
                guard let text = value.scalar?.string, ["server", "client"].contains(text) else {
                    throw ConfigError(file: path, line: line, key: key, reason: "must be server or client")
                }
                role = (text, line)
                continue
            }
            entries.append(Entry(key: key, line: line, arguments: try Self.arguments(key, value, line, path)))
        }
        self.role = role
        self.entries = entries
    }

    /// The options one key stands for.
    static func arguments(_ key: String, _ value: Node, _ line: Int, _ path: String) throws(ConfigError) -> [String] {
        switch value {
        case .scalar(let scalar):
            if scalar.style == .plain && (scalar.string == "true" || scalar.string == "false") {
                return scalar.string == "true" ? ["--\(key)"] : []
            }
            return ["--\(key)", scalar.string]
        case .sequence(let sequence):
            var items: [String] = []
            for item in sequence {
                guard let text = item.scalar?.string else {
                    throw ConfigError(
                        file: path, line: item.mark?.line ?? line, key: key, reason: "list items must be plain values")
                }
                items.append(text)
            }
            if commaJoined.contains(key) { return items.isEmpty ? [] : ["--\(key)", items.joined(separator: ",")] }
            return items.flatMap { ["--\(key)", $0] }
        default:
            throw ConfigError(file: path, line: line, key: key, reason: "expected a value or a list of values")
        }
    }

    static func translate(_ error: YamlError, path: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigError(file: path, line: mark.line, key: "", reason: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams points at the first occurrence.
            return ConfigError(
                file: path, line: context.mark.line, key: duplicates.joined(separator: ", "),
                reason: "given more than once")
        default:
            return ConfigError(file: path, line: 0, key: "", reason: "invalid YAML: \(error)")
        }
    }

    /// The names of the long options present in `arguments` (`--name`, `--name=value`, or a known short form).
    static func optionNames(in arguments: [String]) -> Set<String> {
        var names: Set<String> = []
        for argument in arguments {
            if argument.hasPrefix("--") {
                names.insert(String(argument.dropFirst(2).prefix { $0 != "=" }))
            } else if argument.hasPrefix("-"), argument.count >= 2,
                let long = shortNames[String(argument.dropFirst().prefix(1))]
            {
                names.insert(long)
            }
        }
        return names
    }

    /// The file's options minus those `commandLine` gives itself, followed by `commandLine`.
    func merged(with commandLine: [String]) -> [String] {
        let overridden = Self.optionNames(in: commandLine)
        return entries.filter { !overridden.contains($0.key) }.flatMap(\.arguments) + commandLine
    }

    /// The entry an argument parser's message is about (it names `--key`), if any.
    func entry(mentionedIn message: String) -> Entry? {
        entries.first { entry in
            message.contains("--\(entry.key) ") || message.contains("--\(entry.key)'")
                || message.contains("--\(entry.key)\n")
                || message.contains("--\(entry.key):") || message.hasSuffix("--\(entry.key)")
                || message.contains("'\(entry.key)'")
        }
    }
}
