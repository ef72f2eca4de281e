import ReplicaCore

/// The one-line progress display on stderr: bytes done, %, MB/s, the current ratio and the ETA.
///
/// It exists only when stderr is a terminal and `-q` is off, appears once the work has run for a while
/// (about a second), redraws at most five times a second, and erases itself when the work ends.
final class ProgressMeter {
    private let label: String
    private let total: UInt64?
    private let delay: Duration
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private var lastDraw: ContinuousClock.Instant?

    /// Creates a meter, or returns `nil` when stderr is not a terminal or progress is off.
    ///
    /// - Parameters:
    ///   - label: the file's name, shortened to keep the line short.
    ///   - total: the input's size when known; without it there is no % and no ETA.
    ///   - delay: how long the work must run before the line appears.
    init?(label: String, total: UInt64?, delay: Duration, enabled: Bool) {
        guard enabled, Posix.isTerminal(Posix.standardError) else { return nil }
        self.label = label.count > 32 ? "..." + label.suffix(29) : label
        self.total = total
        self.delay = delay
        self.start = clock.now
    }

    /// Redraws the line if it is due.
    ///
    /// - Parameters:
    ///   - consumed: input bytes read so far.
    ///   - statistics: the library's counters, for the ratio and the content throughput.
    func update(consumed: UInt64, statistics: StreamStatistics) {
        let now = clock.now
        let elapsed = now - start
        guard elapsed >= delay else { return }
        if let lastDraw, now - lastDraw < .milliseconds(200) { return }
        lastDraw = now
        var line = "\(label): \(TextFormat.bytes(consumed, fixed: true))"
        if let total, total > 0 {
            line += " / \(TextFormat.bytes(total, fixed: true)) \(TextFormat.percent(Double(consumed) / Double(total)))"
        }
        line += ", \(TextFormat.rate(statistics.contentBytes, over: elapsed))"
        if statistics.blocks > 0 { line += ", ratio \(TextFormat.fixed(statistics.ratio, digits: 2))" }
        if let total, consumed > 0, total >= consumed {
            let remaining = elapsed.seconds * Double(total - consumed) / Double(consumed)
            line += ", ETA \(TextFormat.clock(remaining))"
        }
        Diagnostics.writeStandardError("\r\u{1B}[K" + line)
    }

    /// Erases the line, if it was ever drawn.
    func clear() {
        guard lastDraw != nil else { return }
        lastDraw = nil
        Diagnostics.writeStandardError("\r\u{1B}[K")
    }
}
