import Foundation
import Testing

#if canImport(Glibc)
/// Both tunnel ends run as `nobody`, as a daemon is deployed, from the built binary: a flow must cross, and
/// every connected TCP socket of both processes (the peer link, the forwarded connection, the dial-out) must
/// have Nagle off, read back with `getsockopt(IPPROTO_TCP, TCP_NODELAY)`.
///
/// Setting `TCP_NODELAY` at the wrong level (`SOL_SOCKET`, where option 1 is `SO_DEBUG`) fails with EACCES for
/// anyone but root, so this only fails the way users see it when the daemons are unprivileged; CI runs as root,
/// which may switch to `nobody`.
@Suite("replica tunnel as an unprivileged user", .serialized, .enabled(if: DaemonProcess.canDropPrivileges))
struct TunnelUnprivilegedTests {
    @Test("a flow crosses and every tunnel socket has TCP_NODELAY set")
    func nagleIsOffAsNobody() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try TunnelArguments.makeCertificates(in: cli, owner: "nobody")
        let echo = try LoopbackEchoServer()
        defer { echo.close() }
        let serverPort = try TunnelArguments.freePort()
        let server = try DaemonProcess(
            TunnelArguments.server(port: serverPort, allow: "127.0.0.1:\(echo.port)")
                + ["--permit", "client=127.0.0.1:\(echo.port)"],
            name: "server", directory: cli.directory)
        defer { server.stop() }
        _ = try server.waitForLine(matching: "listening on 127\\.0\\.0\\.1:([0-9]+)")
        let client = try DaemonProcess(
            TunnelArguments.client(peerPort: serverPort, forward: "0:127.0.0.1:\(echo.port)"),
            name: "client", directory: cli.directory)
        defer { client.stop() }
        let localPort = try #require(Int(try client.waitForLine(matching: "forwarding 127\\.0\\.0\\.1:([0-9]+)")))
        _ = try client.waitForLine(matching: "link to .* is up")

        let connection = try LoopbackConnection(port: localPort)
        defer { connection.close() }
        let message = Array("ping through the tunnel as nobody".utf8)
        #expect(connection.exchange(message) == message, "client: \(client.stderr)\nserver: \(server.stderr)")

        let serverSockets = try SocketInspector.connectedTCPSockets(of: server.pid)
        let clientSockets = try SocketInspector.connectedTCPSockets(of: client.pid)
        // The server holds the peer link (its listening port) and the dial-out to the echo server.
        #expect(serverSockets.contains { $0.localPort == serverPort }, "\(serverSockets)")
        #expect(serverSockets.contains { $0.remotePort == echo.port }, "\(serverSockets)")
        // The client holds the peer link and the forwarded application connection.
        #expect(clientSockets.contains { $0.remotePort == serverPort }, "\(clientSockets)")
        #expect(clientSockets.contains { $0.localPort == localPort }, "\(clientSockets)")
        for socket in serverSockets + clientSockets {
            #expect(socket.noDelay, "Nagle is on: \(socket)")
        }
        #expect(!server.stderr.contains("Permission denied"), "\(server.stderr)")
    }
}
#endif
