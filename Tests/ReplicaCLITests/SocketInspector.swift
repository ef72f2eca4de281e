#if canImport(Glibc)
import Foundation
import Glibc

/// Reads the TCP options of another process's sockets with a real `getsockopt`: each socket is duplicated into
/// this process with `pidfd_getfd(2)` (Linux 5.6+, needs ptrace rights over the process, which root has).
///
/// glibc 2.36 has `pidfd_open` and `pidfd_getfd`, but Swift's Glibc module does not import `<sys/pidfd.h>`, so
/// they are looked up with `dlsym`.
struct SocketInspector {
    /// One connected TCP socket of the inspected process.
    struct TCPSocket: CustomStringConvertible {
        let fd: Int32
        let localPort: Int
        let remotePort: Int
        /// Whether `TCP_NODELAY` is set (Nagle off), read with `getsockopt(IPPROTO_TCP, TCP_NODELAY)`.
        let noDelay: Bool

        var description: String { "fd \(fd) :\(localPort) -> :\(remotePort) nodelay=\(noDelay)" }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    private typealias PidfdGetfd = @convention(c) (Int32, Int32, UInt32) -> Int32

    /// Every connected (not listening) TCP socket of process `pid`.
    static func connectedTCPSockets(of pid: pid_t) throws -> [TCPSocket] {
        guard let handle = dlopen(nil, RTLD_NOW), let openSymbol = dlsym(handle, "pidfd_open"),
            let getSymbol = dlsym(handle, "pidfd_getfd")
        else { throw Failure(description: "this libc has no pidfd_open/pidfd_getfd") }
        let pidfdOpen = unsafeBitCast(openSymbol, to: PidfdOpen.self)
        let pidfdGetfd = unsafeBitCast(getSymbol, to: PidfdGetfd.self)
        let pidfd = pidfdOpen(pid, 0)
        guard pidfd >= 0 else { throw Failure(description: "pidfd_open(\(pid)): errno \(errno)") }
        defer { close(pidfd) }
        var sockets: [TCPSocket] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
            guard let fd = Int32(name),
                let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(name)"),
                link.hasPrefix("socket:")
            else { continue }
            let copy = pidfdGetfd(pidfd, fd, 0)
            guard copy >= 0 else { throw Failure(description: "pidfd_getfd(\(pid), \(fd)): errno \(errno)") }
            defer { close(copy) }
            guard option(copy, SOL_SOCKET, SO_PROTOCOL) == Int32(IPPROTO_TCP),
                option(copy, SOL_SOCKET, SO_ACCEPTCONN) == 0, let remote = port(copy, peer: true)
            else { continue }
            sockets.append(
                TCPSocket(
                    fd: fd, localPort: port(copy, peer: false) ?? 0, remotePort: remote,
                    noDelay: option(copy, Int32(IPPROTO_TCP), TCP_NODELAY) != 0))
        }
        return sockets
    }

    private static func option(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : nil
    }

    /// The local or peer port of a socket, or `nil` when it is not connected.
    private static func port(_ fd: Int32, peer: Bool) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        guard result == 0 else { return nil }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }
}
#endif
