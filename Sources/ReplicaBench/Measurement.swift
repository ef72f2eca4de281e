import Foundation

/// A throughput measured over several runs: median, slowest and fastest, in MB/s (10^6 bytes per second).
struct Throughput: Codable, Equatable {
    /// The median of the runs' MB/s.
    let median: Double
    /// The slowest run's MB/s.
    let min: Double
    /// The fastest run's MB/s.
    let max: Double
    /// How many runs were timed.
    let runs: Int
}

/// How many times to repeat each measurement.
struct RunPolicy {
    /// Runs wanted per measurement.
    let runs: Int
    /// Once a measurement has spent this many seconds, it stops after the current run (it always runs once).
    let budgetSeconds: Double
}

/// A monotonic clock reading in seconds (`clock_gettime(CLOCK_MONOTONIC)`).
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Times `work` over `bytes` bytes up to `policy.runs` times and hands each result to `verify`, untimed.
///
/// - Returns: the throughput and the last run's result.
/// - Throws: whatever `work` or `verify` throws.
func measure<Result>(
    bytes: Int, policy: RunPolicy, _ work: () throws -> Result, verify: (Result) throws -> Void = { _ in }
) throws -> (Throughput, Result) {
    func timedRun() throws -> (rate: Double, seconds: Double, result: Result) {
        let start = monotonicSeconds()
        let result = try work()
        let seconds = Swift.max(monotonicSeconds() - start, 1e-9)
        try verify(result)
        return (Double(bytes) / seconds / 1e6, seconds, result)
    }
    var (rate, spent, last) = try timedRun()
    var rates = [rate]
    while rates.count < policy.runs && spent < policy.budgetSeconds {
        let seconds: Double
        (rate, seconds, last) = try timedRun()
        spent += seconds
        rates.append(rate)
    }
    rates.sort()
    let middle = rates.count / 2
    let median = rates.count % 2 == 1 ? rates[middle] : (rates[middle - 1] + rates[middle]) / 2
    return (Throughput(median: median, min: rates[0], max: rates[rates.count - 1], runs: rates.count), last)
}

/// The process's peak resident set size so far, in bytes (`getrusage(RUSAGE_SELF)`; Linux reports KiB).
func peakResidentBytes() -> Int {
    var usage = rusage()
    guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
    return usage.ru_maxrss * 1024
}

/// The machine: CPU model from /proc/cpuinfo and the number of online cores.
func machineDescription() -> (cpu: String, cores: Int) {
    var cpu = "unknown"
    if let file = fopen("/proc/cpuinfo", "r") {
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            if text.hasPrefix("model name"), let colon = text.firstIndex(of: ":") {
                cpu = text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                break
            }
        }
        free(line)
    }
    return (cpu, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// The one-minute load average from /proc/loadavg (0 when unreadable): above the core count, other processes
/// shared the CPU with the run, and its medians understate the engine; the max of each row is then the better
/// estimate.
func loadAverage() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
        let first = text.split(separator: " ").first
    else { return 0 }
    return Double(first) ?? 0
}
