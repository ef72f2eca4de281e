import Foundation
import Testing

/// Runs the built `replica` binary as a real process, with real files and pipes, in a scratch directory.
///
/// The binary is found next to the test bundle (the build products directory, whatever `--scratch-path` is),
/// or else at `.build/debug/replica` beside `Package.swift`.
struct CLIRunner {
    /// What a finished run left behind.
    struct Outcome {
        /// The exit status, or the signal number when ``signaled``.
        let status: Int32
        /// Whether the process was ended by a signal.
        let signaled: Bool
        let stdout: [UInt8]
        let stderr: String

        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// The binary under test.
    static let binary: URL = {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        let candidates = [
            products.appendingPathComponent("replica"),
            // `swift test` on some platforms runs the tests from inside the bundle.
            products.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("replica"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/replica"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    /// Holds the scratch directory and, beside it, the captured stdout and stderr.
    private let root: URL
    /// The scratch directory the process runs in.
    let directory: URL

    /// Creates an empty scratch directory.
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("replica-cli-tests-\(UUID().uuidString)")
        directory = root.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Removes the scratch directory.
    func cleanUp() { try? FileManager.default.removeItem(at: root) }

    /// The URL of a file in the scratch directory.
    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Writes a file into the scratch directory.
    func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: url(name)) }

    /// Reads a file from the scratch directory.
    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }

    /// Whether a file exists in the scratch directory.
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: url(name).path) }

    /// Every name in the scratch directory, hidden ones included, sorted.
    func listing() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() }

    /// Runs `replica` with `arguments` in the scratch directory and waits for it.
    ///
    /// - Parameter stdin: a file in the scratch directory to read from, or `nil` for `/dev/null`.
    func run(_ arguments: [String], stdin: String? = nil) throws -> Outcome {
        let process = try start(arguments, stdin: stdin)
        process.waitUntilExit()
        return try outcome(of: process)
    }

    /// Starts `replica` without waiting; stdout and stderr go to files read by ``outcome(of:)``.
    func start(_ arguments: [String], stdin: String? = nil, stdinPipe: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ["COLUMNS": "80", "PATH": "/usr/bin:/bin", "LC_ALL": "C"]
        try captureOutput(of: process)
        if let stdinPipe {
            process.standardInput = stdinPipe
        } else if let stdin {
            process.standardInput = try FileHandle(forReadingFrom: url(stdin))
        } else {
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        }
        try process.run()
        return process
    }

    /// Sends the process's stdout and stderr to fresh files beside the scratch directory.
    private func captureOutput(of process: Process) throws {
        for name in ["stdout", "stderr"] {
            try Data().write(to: root.appendingPathComponent(name))
        }
        process.standardOutput = try FileHandle(forWritingTo: root.appendingPathComponent("stdout"))
        process.standardError = try FileHandle(forWritingTo: root.appendingPathComponent("stderr"))
    }

    /// Collects a finished process's status and output, removing the capture files.
    func outcome(of process: Process) throws -> Outcome {
        defer {
            try? FileManager.default.removeItem(at: root.appendingPathComponent("stdout"))
            try? FileManager.default.removeItem(at: root.appendingPathComponent("stderr"))
        }
        return Outcome(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            stdout: [UInt8](try Data(contentsOf: root.appendingPathComponent("stdout"))),
            stderr: String(decoding: try Data(contentsOf: root.appendingPathComponent("stderr")), as: UTF8.self))
    }

    /// Runs a shell command line in the scratch directory (for `script`, pipes and `head`), with `$REPLICA`
    /// set to the binary.
    func shell(_ command: String) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = directory
        process.environment = [
            "COLUMNS": "80", "PATH": "/usr/bin:/bin", "LC_ALL": "C", "REPLICA": Self.binary.path,
            "TERM": "dumb",
        ]
        try captureOutput(of: process)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
        process.waitUntilExit()
        return try outcome(of: process)
    }

    /// Whether `script` (util-linux) is installed, for the tests that need a pseudo-terminal.
    static let hasScript = FileManager.default.isExecutableFile(atPath: "/usr/bin/script")
}
