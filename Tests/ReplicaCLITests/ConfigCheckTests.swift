import Foundation
import ReplicaTestSupport
import Testing

/// `replica config check`: good files pass, and every bad one is named by file, line, key and reason.
@Suite("replica config check")
struct ConfigCheckTests {
    static let good = """
        role: client
        peer: 127.0.0.1:27700
        forward:
          - 127.0.0.1:27780:app.test:80
        store-capacity: 1GiB
        log-format: json
        admin: 127.0.0.1:9090
        quiet: false
        ca: pki/ca.pem
        cert: pki/branch.pem
        key: pki/branch.key
        server-name: hub

        """

    /// Writes ``good`` as `client.yaml`, with the certificates it names (`replica tunnel keygen pki hub branch`).
    static func writeGood(_ cli: CLIRunner) throws {
        let keygen = try cli.run(["tunnel", "keygen", "pki", "hub", "branch"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        try cli.write("client.yaml", Array(good.utf8))
    }

    @Test("a complete client file passes, and so do the shipped deploy/config files")
    func goodFiles() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try Self.writeGood(cli)
        let outcome = try cli.run(["config", "check", "client.yaml"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == "client.yaml: ok (role client, 11 settings)\n")
        // The shipped files name certificates under /etc/replica-certs (mounted by compose): check them with
        // that directory pointed at this test's keygen output.
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../deploy/config")
        for name in ["hub.yaml", "branch.yaml"] {
            let text = try String(contentsOf: deploy.appendingPathComponent(name), encoding: .utf8)
            try cli.write(name, Array(text.replacingOccurrences(of: "/etc/replica-certs", with: "pki").utf8))
            let shipped = try cli.run(["config", "check", name])
            #expect(shipped.status == 0, "\(name): \(shipped.stderr)")
        }
        // A certificate file that cannot be read is named with the line of its key.
        try cli.write(
            "broken.yaml", Array(Self.good.replacingOccurrences(of: "pki/branch.pem", with: "pki/nowhere.pem").utf8))
        let broken = try cli.run(["config", "check", "broken.yaml"])
        #expect(broken.status != 0)
        #expect(broken.stderr.hasPrefix("replica: broken.yaml:"), "\(broken.stderr)")
        #expect(broken.stderr.contains("nowhere.pem"), "\(broken.stderr)")
    }

    @Test(
        "a bad file names file, line, key and reason",
        arguments: [
            (
                "role: client\npeer: 127.0.0.1:1\nforward: [\"1:h:1\"]\ncodec: brotli\ninsecure-plaintext: true\n",
                "bad.yaml:4: codec: --codec must be zstd"
            ),
            (
                "role: client\npeer: 127.0.0.1:1\nforward: [\"1:h:1\"]\nbogus: 1\ninsecure-plaintext: true\n",
                "bad.yaml:4: bogus: Unknown option '--bogus'"
            ),
            ("role: server\nlisten: 127.0.0.1:99999\ninsecure-plaintext: true\n", "bad.yaml:2: listen: --listen: '127.0.0.1:99999'"),
            ("role: server\nlisten: [1, 2\n", "bad.yaml:3: invalid YAML:"),
            ("role: proxy\n", "bad.yaml:1: role: must be server or client"),
            ("listen: 127.0.0.1:1\n", "bad.yaml:1: role: missing"),
            ("role: server\nlisten: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", "bad.yaml:2: listen: given more than once"),
            ("role: server\nlisten:\n  host: a\n", "bad.yaml:2: listen: expected a value or a list"),
            ("- a\n- b\n", "bad.yaml:1: expected a mapping of options"),
            ("role: client\nforward: [\"1:h:1\"]\n", "bad.yaml:1: Missing expected argument '--peer"),
            (
                "role: client\npeer: 127.0.0.1:1\nforward: [\"1:h:1\"]\nstream-window: lots\ninsecure-plaintext: true\n",
                "bad.yaml:4: stream-window: The value 'lots' is invalid for '--stream-window"
            ),
        ])
    func badFile(text: String, expected: String) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("bad.yaml", Array(text.utf8))
        let outcome = try cli.run(["config", "check", "bad.yaml"])
        #expect(outcome.status != 0)
        #expect(outcome.stderr.hasPrefix("replica: " + expected), "\(outcome.stderr)")
    }

    @Test("a missing file is named")
    func missingFile() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["config", "check", "nowhere.yaml"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr == "replica: nowhere.yaml: cannot read the file\n")
    }

    @Test("options on the command line win over the file; a role that contradicts it is refused")
    func overrides() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try Self.writeGood(cli)
        let bad = try cli.run(["tunnel", "client", "--config", "client.yaml", "--codec", "brotli"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--codec must be zstd"), "\(bad.stderr)")
        let contradiction = try cli.run(["tunnel", "server", "--config", "client.yaml"])
        #expect(contradiction.status == 2)
        #expect(
            contradiction.stderr.hasPrefix("replica: client.yaml:1: role: the file says client"),
            "\(contradiction.stderr)")
    }
}
