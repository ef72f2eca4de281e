import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The temporary files that must not outlive the process, and the one way out when a signal ends it.
///
/// An ``AtomicFile`` registers its temporary path before creating it and withdraws it once renamed or removed.
/// When SIGINT, SIGTERM, SIGHUP or a broken pipe ends the process, ``terminate(by:)`` removes every registered
/// file and then dies by that signal, so the parent sees the usual status (130 for SIGINT, 141 for SIGPIPE).
/// A rename runs under the same lock, so a file is either committed whole or removed, never both or neither.
final class PendingOutputs: Sendable {
    /// The process-wide registry.
    static let shared = PendingOutputs()

    private struct State {
        var paths: [UInt64: String] = [:]
        var nextToken: UInt64 = 0
        var isTerminating = false
    }
    private let state = Mutex(State())

    /// Registers a temporary file and returns the token that withdraws it.
    func register(_ path: String) -> UInt64 {
        state.withLock { state in
            state.nextToken += 1
            state.paths[state.nextToken] = path
            return state.nextToken
        }
    }

    /// Forgets a temporary file that no longer exists.
    func withdraw(_ token: UInt64) {
        _ = state.withLock { state in state.paths.removeValue(forKey: token) }
    }

    /// Runs `rename` for a registered file unless the process is terminating, then withdraws it.
    ///
    /// - Returns: `false` when termination has begun and `rename` did not run.
    func commit(_ token: UInt64, rename: () throws(FileError) -> Void) throws(FileError) -> Bool {
        try state.withLock { (state) throws(FileError) -> Bool in
            guard !state.isTerminating else { return false }
            try rename()
            state.paths[token] = nil
            return true
        }
    }

    /// Removes every registered file and ends the process by `signal`.
    func terminate(by signal: Int32) -> Never {
        let paths = state.withLock { state in
            state.isTerminating = true
            defer { state.paths.removeAll() }
            return Array(state.paths.values)
        }
        for path in paths { _ = unlink(path) }
        Self.die(by: signal)
    }

    /// Ends the process by `signal` with its default action, as if it had never been handled.
    private static func die(by number: Int32) -> Never {
        _ = signal(number, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(number)
        _exit(128 + number)
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into an orderly ``PendingOutputs/terminate(by:)`` and ignores SIGPIPE, so a
/// closed pipe shows up as `EPIPE` at the write that hit it.
enum SignalWatcher {
    private static let watched = [SIGINT, SIGTERM, SIGHUP]

    /// Blocks the watched signals and waits for them on a thread of their own.
    ///
    /// - Precondition: no other thread has been started yet, so every later thread inherits the blocked mask.
    static func start() {
        _ = signal(SIGPIPE, SIG_IGN)
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        DispatchQueue.global().async {
            // A signal ignored when the process started (a background job's SIGINT) is discarded by the
            // kernel and never reaches sigwait, as the shell intends.
            var set = signalSet()
            // A daemon with a reload handler (the tunnel) takes SIGHUP as "re-read the config" and goes on.
            func next() -> Int32 {
                var received: Int32 = 0
                while true {
                    while sigwait(&set, &received) != 0 {}
                    guard received == SIGHUP, let reload = reloadHandler.withLock({ $0 }) else { return received }
                    reload()
                }
            }
            var received = next()
            // A long-running command (the tunnel) stops gracefully on the first signal; a second one kills.
            if let handler = gracefulStop.withLock({ $0.take() }) {
                handler(received)
                received = next()
            }
            PendingOutputs.shared.terminate(by: received)
        }
    }

    private static let gracefulStop = Mutex<(@Sendable (Int32) -> Void)?>(nil)
    private static let reloadHandler = Mutex<(@Sendable () -> Void)?>(nil)

    /// Makes SIGHUP call `handler` (on the signal thread) instead of stopping the process.
    static func onReload(_ handler: @escaping @Sendable () -> Void) {
        reloadHandler.withLock { $0 = handler }
    }

    /// Makes the first watched signal call `handler` (which must end the process soon) instead of terminating.
    static func onGracefulStop(_ handler: @escaping @Sendable (Int32) -> Void) {
        gracefulStop.withLock { $0 = handler }
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in watched { sigaddset(&set, signal) }
        return set
    }
}
