import Foundation
import ReplicaTestSupport
import Testing

/// `replica tunnel keygen` and `--fingerprint-key` from the built binary.
@Suite("replica tunnel keygen and fingerprint keys")
struct TunnelKeygenTests {
    @Test("keygen writes the CA and one certificate and key per name, keys 0600, and refuses to overwrite")
    func keygen() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["tunnel", "keygen", "pki", "hub", "branch1"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(
            outcome.stdoutText == """
                wrote pki/ca.pem and pki/ca.key (the CA: give ca.pem to every endpoint, keep ca.key offline)
                wrote pki/hub.pem and pki/hub.key for hub
                wrote pki/branch1.pem and pki/branch1.key for branch1

                """)
        let files = try FileManager.default.contentsOfDirectory(atPath: cli.url("pki").path).sorted()
        #expect(files == ["branch1.key", "branch1.pem", "ca.key", "ca.pem", "hub.key", "hub.pem"])
        for name in ["ca.key", "hub.key", "branch1.key"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: cli.url("pki/\(name)").path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(name)")
        }
        #expect(String(decoding: try cli.read("pki/hub.pem"), as: UTF8.self).hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(String(decoding: try cli.read("pki/hub.key"), as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let before = try cli.read("pki/hub.pem")

        let again = try cli.run(["tunnel", "keygen", "pki", "hub"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("pki/hub.pem exists (use --force to replace it)"), "\(again.stderr)")
        #expect(try cli.read("pki/hub.pem") == before)

        // A new name is issued by the same CA; --force replaces an existing name.
        let added = try cli.run(["tunnel", "keygen", "pki", "branch2"])
        #expect(added.stdoutText.hasPrefix("using the CA in pki/ca.pem\n"), "\(added.stdoutText)\(added.stderr)")
        let forced = try cli.run(["tunnel", "keygen", "--force", "pki", "hub"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try cli.read("pki/hub.pem") != before)
        // No temporary file is left behind.
        let left = try FileManager.default.contentsOfDirectory(atPath: cli.url("pki").path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test("a bad name is refused before anything is written", arguments: ["ca", "../x", "a b", ".hidden", ""])
    func badName(name: String) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["tunnel", "keygen", "pki", name])
        #expect(outcome.status != 0)
        #expect(!cli.exists("pki/ca.pem"))
    }

    @Test("the tunnel refuses to start without certificates unless --insecure-plaintext is given")
    func tlsIsTheDefault() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let outcome = try cli.run(["tunnel", "server", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:80"])
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("--insecure-plaintext"), "\(outcome.stderr)")
    }

    @Test("a keyed stream needs the same key: the wrong or no key fails clearly, the right one round-trips")
    func fingerprintKey() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let sample = TestCorpus.text(300_000, seed: 31)
        try cli.write("a.txt", sample)
        try cli.write("k1", Array(repeating: 1, count: 32))
        try cli.write("k2", Array(repeating: 2, count: 32))
        try cli.write("short", Array(repeating: 3, count: 8))
        #expect(try cli.run(["--fingerprint-key", "k1", "-o", "a.rpl", "a.txt"]).status == 0)
        let right = try cli.run(["-d", "--fingerprint-key", "k1", "-o", "back", "a.rpl"])
        #expect(right.status == 0, "\(right.stderr)")
        #expect(try cli.read("back") == sample)
        for arguments in [["--fingerprint-key", "k2"], []] {
            let wrong = try cli.run(["-d"] + arguments + ["-o", "wrong", "a.rpl"])
            #expect(wrong.status != 0)
            #expect(wrong.stderr.contains("key"), "\(wrong.stderr)")
            #expect(!cli.exists("wrong"))
        }
        #expect(try cli.run(["test", "--fingerprint-key", "k1", "a.rpl"]).status == 0)
        let short = try cli.run(["--fingerprint-key", "short", "-o", "s.rpl", "a.txt"])
        #expect(short.status != 0)
        #expect(short.stderr.contains("16 or more"), "\(short.stderr)")
    }
}
