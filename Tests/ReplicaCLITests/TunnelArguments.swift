import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The command lines of the two tunnel ends in tests: loopback, memory stores, no admin listener, mutual TLS with
/// certificates made by `replica tunnel keygen` in the scratch directory.
enum TunnelArguments {
    /// Runs `replica tunnel keygen pki server client` in the scratch directory and, when `owner` is given, hands
    /// the files to that user (the daemons run as `nobody` and must read their keys).
    static func makeCertificates(in cli: CLIRunner, owner: String? = nil) throws {
        let outcome = try cli.run(["tunnel", "keygen", "pki", "server", "client"])
        guard outcome.status == 0 else { throw SocketInspector.Failure(description: "keygen failed: \(outcome.stderr)") }
        #if canImport(Glibc)
        if let owner, let user = getpwnam(owner) {
            let directory = cli.url("pki").path
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) + [""] {
                chown(name.isEmpty ? directory : "\(directory)/\(name)", user.pointee.pw_uid, user.pointee.pw_gid)
            }
        }
        #endif
    }

    static func tls(_ name: String) -> [String] {
        ["--ca", "pki/ca.pem", "--cert", "pki/\(name).pem", "--key", "pki/\(name).key"]
    }

    /// A free port in this project's test range (28000-28999), found by binding it.
    static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 28000...28999)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if bound { return port }
        }
        throw SocketInspector.Failure(description: "no free port in 28000-28999")
    }

    static func server(port: Int, allow: String) -> [String] {
        ["tunnel", "server", "--listen", "127.0.0.1:\(port)", "--allow", allow, "--admin", "off"] + tls("server")
    }

    static func client(peerPort: Int, forward: String) -> [String] {
        ["tunnel", "client", "--peer", "127.0.0.1:\(peerPort)", "-L", forward, "--server-name", "server", "--admin", "off"]
            + tls("client")
    }
}
