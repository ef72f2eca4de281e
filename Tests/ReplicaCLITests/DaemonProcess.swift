import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A long-running `replica` process (a tunnel end), run as the unprivileged user `nobody` the way a daemon is
/// deployed: `setpriv --reuid=nobody --regid=nogroup --clear-groups replica ARGS...`. Its stderr goes to a file
/// that ``waitForLine(matching:timeout:)`` polls.
final class DaemonProcess {
    /// Whether this test process may switch users (only root may).
    static var canDropPrivileges: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: setpriv) }

    private static let setpriv = "/usr/bin/setpriv"

    let process: Process
    private let stderrURL: URL

    /// The process ID of `replica` itself (setpriv execs it).
    var pid: pid_t { process.processIdentifier }

    /// Starts `replica ARGUMENTS` as nobody, in `directory`, its stderr in `directory/NAME.stderr`.
    init(_ arguments: [String], name: String, directory: URL) throws {
        stderrURL = directory.appendingPathComponent("\(name).stderr")
        try Data().write(to: stderrURL)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.setpriv)
        process.arguments =
            ["--reuid=nobody", "--regid=nogroup", "--clear-groups", CLIRunner.binary.path] + arguments
        process.currentDirectoryURL = directory
        process.environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C"]
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
    }

    /// What the process wrote to stderr so far.
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Polls stderr until a line matches `pattern`, and returns the regex's first capture group.
    func waitForLine(matching pattern: String, timeout: TimeInterval = 30) throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = stderr
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let group = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return Range(group, in: text).map { String(text[$0]) } ?? ""
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw SocketInspector.Failure(description: "no line matching \(pattern) (stderr: \(stderr))")
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 10 s).
    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A blocking echo server on 127.0.0.1 for tests that run the tunnel as separate processes: one thread per
/// connection, each echoing until EOF.
final class LoopbackEchoServer: @unchecked Sendable {
    private let listener: Int32
    /// The port it listens on.
    let port: Int

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else { throw SocketInspector.Failure(description: "echo server: bind/listen failed: \(errno)") }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 64 << 10)
                    while true {
                        let count = read(connection, &buffer, buffer.count)
                        guard count > 0, write(connection, buffer, count) == count else { break }
                    }
                    Glibc.close(connection)
                }
            }
        }
    }

    /// Stops accepting (the accept loop ends on the closed socket).
    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }
}

/// A blocking client socket to 127.0.0.1, for exchanging a few bytes with a forwarded port.
struct LoopbackConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw SocketInspector.Failure(description: "connect to :\(port): errno \(errno)") }
    }

    /// Sends `bytes` and reads until as many came back (or EOF, error or the 20 s timeout).
    func exchange(_ bytes: [UInt8]) -> [UInt8] {
        guard write(fd, bytes, bytes.count) == bytes.count else { return [] }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < bytes.count {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        return received
    }

    func close() { Glibc.close(fd) }
}
