import ReplicaCore

/// Number formatting for messages, without Foundation: fixed decimals, binary byte units, rates and durations.
enum TextFormat {
    /// `value` rounded to `digits` decimals, for example `fixed(3.14159, digits: 2) == "3.14"`.
    static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return value < 0 ? "-inf" : "inf" }
        let units = UInt64(scaled)
        let whole = units / UInt64(scale)
        let sign = value < 0 && units > 0 ? "-" : ""
        guard digits > 0 else { return "\(sign)\(whole)" }
        let fraction = String(units % UInt64(scale))
        return "\(sign)\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// A size in binary units: `512 B`, `8 KiB`, `1.50 GiB`; whole units lose their decimals unless `fixed`.
    static func bytes(_ count: UInt64, fixed keepDecimals: Bool = false) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        guard count >= 1024 else { return "\(count) B" }
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if !keepDecimals && count % (1 << (10 * (unit + 1))) == 0 {
            return "\(count >> (10 * (unit + 1))) \(units[unit])"
        }
        return fixed(value, digits: value < 10 ? 2 : 1) + " " + units[unit]
    }

    /// A fraction as a percentage with one decimal: `97.1%`.
    static func percent(_ fraction: Double) -> String { fixed(fraction * 100, digits: 1) + "%" }

    /// Decimal megabytes per second: `215.3 MB/s`.
    static func rate(_ bytes: UInt64, over duration: Duration) -> String {
        let seconds = duration.seconds
        guard seconds > 0 else { return "- MB/s" }
        return fixed(Double(bytes) / seconds / 1e6, digits: 1) + " MB/s"
    }

    /// A duration as `m:ss` or `h:mm:ss`.
    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e7 else { return "-:--" }
        let total = Int(seconds.rounded(.up))
        let two = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        if total >= 3600 { return "\(total / 3600):\(two(total / 60 % 60)):\(two(total % 60))" }
        return "\(total / 60):\(two(total % 60))"
    }

    /// The `-v` line shared by compress, decompress and test: sizes, ratio, deduplication and throughput.
    static func summary(_ statistics: StreamStatistics, encoding: Bool, elapsed: Duration) -> String {
        let sizes =
            encoding
            ? "\(statistics.contentBytes) -> \(statistics.encodedBytes) bytes"
            : "\(statistics.encodedBytes) -> \(statistics.contentBytes) bytes"
        return "\(sizes), ratio \(fixed(statistics.ratio, digits: 2)), "
            + "\(percent(statistics.deduplicatedChunkFraction)) of chunks deduplicated, "
            + rate(statistics.contentBytes, over: elapsed)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// A string made safe to embed in JSON between quotes (and to print: DEL and C1 controls are escaped too).
func jsonString(_ text: String) -> String {
    var escaped = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value):
            let digits = String(scalar.value, radix: 16)
            escaped += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped + "\""
}
