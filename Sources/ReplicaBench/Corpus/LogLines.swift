/// Synthetic service logs: lines from a dozen templates with increasing timestamps and varying fields.
///
/// Highly compressible, but hardly a chunk repeats exactly, because every line carries a fresh timestamp and
/// request ID: this corpus measures the codec rather than deduplication.
enum LogLines {
    /// Exactly `size` bytes of log lines.
    static func generate(seed: UInt64, size: Int) -> [UInt8] {
        var generator = SeededGenerator(seed: seed, stream: 3)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 512)
        var millisecond = 1_764_000_000_000
        let levels = ["INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"]
        let paths = ["/api/v1/users", "/api/v1/orders", "/api/v2/search", "/static/app.js", "/healthz", "/login"]
        let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
        let agents = ["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0", "Go-http-client/2.0"]
        while bytes.count < size {
            millisecond += generator.below(40)
            var line = timestamp(millisecond) + " " + levels[generator.below(levels.count)]
            line += " [worker-\(generator.below(16))] "
            switch generator.below(4) {
            case 0, 1:
                line += "\(methods[generator.below(methods.count)]) \(paths[generator.below(paths.count)])/"
                line += "\(generator.below(100_000)) \([200, 200, 200, 304, 404, 500][generator.below(6)]) "
                line += "\(generator.below(900))ms ua=\"\(agents[generator.below(agents.count)])\""
                line += " req=\(hex(generator.next()))"
            case 2:
                line += "db query table=\(["users", "orders", "items"][generator.below(3)]) rows=\(generator.below(5000))"
                line += " took=\(generator.below(120)).\(generator.below(1000))ms pool=\(generator.below(32))/32"
            default:
                line += "cache \(generator.chance(80) ? "hit" : "miss") key=session:\(hex(generator.next()))"
                line += " size=\(generator.below(1 << 16)) ttl=\(generator.within(60...3600))s"
            }
            bytes += Array(line.utf8)
            bytes.append(0x0A)
        }
        bytes.removeLast(bytes.count - size)
        return bytes
    }

    private static func timestamp(_ millisecond: Int) -> String {
        let seconds = millisecond / 1000
        let day = seconds / 86400 % 28 + 1
        let clock = seconds % 86400
        return "2026-11-\(pad(day, 2))T\(pad(clock / 3600, 2)):\(pad(clock / 60 % 60, 2)):\(pad(clock % 60, 2))."
            + "\(pad(millisecond % 1000, 3))Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value & 0xFFFF_FFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 12 - text.count) + text
    }
}
