import Foundation
import NIOCore
import ReplicaTunnel

/// Throwaway certificates for tunnel tests, made once per test run in a temporary directory by the same
/// ``TunnelKeygen`` code as `replica tunnel keygen`: a deployment CA with `server` and `client` (and `other`),
/// and a second, unrelated CA with `rogue`, whose certificate the deployment must refuse.
///
/// Every tunnel test runs with mutual TLS on through ``server`` and ``client``.
struct TestPKI: Sendable {
    /// The directory holding the deployment's files (`ca.pem`, `server.pem`, `server.key`, ...).
    let directory: String
    /// The directory of the unrelated CA and its `rogue` certificate.
    let rogueDirectory: String

    /// Made on first use; the files live until the test process ends (``ScratchFiles`` deletes them then).
    static let shared: TestPKI = {
        let root = URL(fileURLWithPath: ScratchFiles.directory(prefix: ScratchFiles.certificatePrefix))
        let deployment = root.appendingPathComponent("deployment").path
        let rogue = root.appendingPathComponent("rogue").path
        do {
            for path in [deployment, rogue] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
            _ = try TunnelKeygen.generate(directory: deployment, names: ["server", "client", "other"])
            _ = try TunnelKeygen.generate(directory: rogue, names: ["rogue"])
        } catch {
            // Every TLS test then fails naming this error when it loads the files.
            FileHandle.standardError.write(Data("TestPKI: \(error)\n".utf8))
        }
        return TestPKI(directory: deployment, rogueDirectory: rogue)
    }()

    /// The path of a file in the deployment directory.
    func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// Mutual TLS as `name` of the deployment CA, trusting that CA.
    func security(
        as name: String, expectedPeerName: String? = nil, handshakeTimeout: TimeAmount = TunnelSecurity.defaultHandshakeTimeout
    ) throws -> TunnelSecurity {
        try .mutualTLS(
            certificateFile: path("\(name).pem"), keyFile: path("\(name).key"), caFile: path("ca.pem"),
            expectedPeerName: expectedPeerName, handshakeTimeout: handshakeTimeout)
    }

    /// The server's settings.
    var server: TunnelSecurity { get throws { try security(as: "server") } }
    /// The client's settings: it requires the server's certificate to name `server`.
    var client: TunnelSecurity { get throws { try security(as: "client", expectedPeerName: "server") } }

    /// A client whose certificate comes from the unrelated CA (and which trusts the deployment CA).
    var rogueClient: TunnelSecurity {
        get throws {
            try .mutualTLS(
                certificateFile: "\(rogueDirectory)/rogue.pem", keyFile: "\(rogueDirectory)/rogue.key",
                caFile: path("ca.pem"))
        }
    }
}

extension TunnelPermissions {
    /// Every peer may reach whatever the allow-list permits.
    static let anyPeer = TunnelPermissions(["*": [TunnelTargetPattern.any]])
}
