import ArgumentParser

/// `-q` and `-v`, shared by every command that reads streams.
struct ReportingOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print nothing but errors; no progress display.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print a summary line per file: ratio, % deduplicated, MB/s.")
    var verbose = false

    /// Seconds of work before the progress display appears; tests set 0 to see it at once.
    @Option(name: .customLong("progress-delay"), help: .private)
    var progressDelay: Double = 1

    func validate() throws {
        if quiet && verbose { throw ValidationError("-q and -v cannot be combined.") }
        guard progressDelay >= 0 && progressDelay < 1e6 else { throw ValidationError("bad --progress-delay") }
    }

    /// A progress meter for one input, or `nil` when progress is off or stderr is not a terminal.
    func progressMeter(for input: InputFile) -> ProgressMeter? {
        ProgressMeter(
            label: input.displayName, total: input.expectedSize,
            delay: .milliseconds(Int64(progressDelay * 1000)), enabled: !quiet)
    }
}
