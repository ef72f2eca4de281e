import ArgumentParser
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The line formats of the daemon's log.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `ts=... level=info label=replica.tunnel msg="..." key=value`, one event per line.
    case logfmt
    /// One JSON object per line: `{"ts":"...","level":"info","label":"...","msg":"...",...}`.
    case json
}

/// A level that every copy of a ``LineLogHandler`` reads, so SIGHUP can change it for all loggers at once.
final class SharedLogLevel: Sendable {
    private let level: Mutex<Logger.Level>
    init(_ level: Logger.Level) { self.level = Mutex(level) }
    var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// A swift-log handler that writes logfmt or JSON lines to stderr. Values are escaped, so text from a peer can
/// neither end a line nor forge a field.
struct LineLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    let level: SharedLogLevel
    var metadata: Logger.Metadata = [:]

    var logLevel: Logger.Level {
        get { level.value }
        set { level.value = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp()), ("level", event.level.rawValue), ("label", label), ("msg", "\(event.message)"),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key].map { "\($0)" } ?? "")")) }
        Diagnostics.writeStandardError(Self.render(fields, format: format) + "\n")
    }

    /// One line in `format`.
    static func render(_ fields: [(String, String)], format: LogFormat) -> String {
        switch format {
        case .logfmt:
            return fields.map { key, value in "\(key)=\(logfmtValue(value))" }.joined(separator: " ")
        case .json:
            return "{" + fields.map { key, value in "\(jsonString(key)):\(jsonString(value))" }.joined(separator: ",")
                + "}"
        }
    }

    static func logfmtValue(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0.value < 0x7f }
        return plain ? value : jsonString(value)
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var time = spec.tv_sec
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))."
            + "\(pad(Int(spec.tv_nsec) / 1_000_000, 3))Z"
    }
}
