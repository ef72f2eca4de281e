import Crypto
public import Foundation
import SwiftASN1
import X509

/// Makes a deployment's certificates: a CA, and for each name a certificate and key it signs. P-256 ECDSA,
/// TLS client and server usage on every leaf, so any name may run either end.
///
/// Files in the directory: `ca.pem` (give it to every endpoint), `ca.key` (keep it offline; mode 0600),
/// `NAME.pem` and `NAME.key` (mode 0600) per name. An existing CA (both `ca.pem` and `ca.key`) is reused, so
/// names can be added later; an existing `NAME.pem` or `NAME.key` is only replaced with `force`. Every file is
/// written atomically.
public enum TunnelKeygen {
    /// What one run wrote.
    public struct Result: Sendable {
        /// The CA certificate's path.
        public var caCertificate: String
        /// Whether the CA already existed and was reused.
        public var reusedCA: Bool
        /// For each name: its certificate's and key's paths.
        public var issued: [(name: String, certificate: String, key: String)]
    }

    /// How long a new CA is valid.
    public static let caValidity: TimeInterval = 10 * 365 * 86400
    /// How long a new endpoint certificate is valid.
    public static let leafValidity: TimeInterval = 2 * 365 * 86400

    /// Whether `name` may name an endpoint: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with a dot, not `ca`.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name != "ca" && !name.hasPrefix(".")
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == 0x2E || byte == 0x5F || byte == 0x2D
            }
    }

    /// Writes (or reuses) the CA in `directory` and a certificate and key for each of `names`.
    ///
    /// - Parameters:
    ///   - directory: an existing directory.
    ///   - names: the endpoints' names (see ``isValidName(_:)``).
    ///   - force: replace existing `NAME.pem`/`NAME.key` files.
    ///   - now: the start of the validity periods.
    /// - Throws: ``TunnelError`` `invalidArgument` naming a bad name, an existing file or a failed write.
    public static func generate(
        directory: String, names: [String], force: Bool = false, now: Date = Date()
    ) throws(TunnelError) -> Result {
        guard !names.isEmpty else { throw TunnelError(.invalidArgument, "give at least one name") }
        for name in names where !isValidName(name) {
            throw TunnelError(
                .invalidArgument, "'\(LogText.escape(name))' is not a valid name (1-64 of A-Z a-z 0-9 . _ -, not 'ca')")
        }
        guard Set(names).count == names.count else { throw TunnelError(.invalidArgument, "a name is given twice") }
        let caPath = "\(directory)/ca.pem"
        let caKeyPath = "\(directory)/ca.key"
        if !force {
            for name in names {
                for path in ["\(directory)/\(name).pem", "\(directory)/\(name).key"] where access(path, F_OK) == 0 {
                    throw TunnelError(.invalidArgument, "\(path) exists (use --force to replace it)")
                }
            }
        }
        do {
            let (ca, caKey, reused) = try loadOrMakeCA(certificate: caPath, key: caKeyPath, now: now)
            var issued: [(String, String, String)] = []
            for name in names {
                let key = P256.Signing.PrivateKey()
                let certificate = try makeLeaf(name: name, key: key, ca: ca, caKey: caKey, now: now)
                let certificatePath = "\(directory)/\(name).pem"
                let keyPath = "\(directory)/\(name).key"
                try PEMFile.store(Array(key.pemRepresentation.utf8), to: keyPath, permissions: 0o600, replace: force)
                try PEMFile.store(
                    Array(try certificate.serializeAsPEM().pemString.utf8), to: certificatePath, permissions: 0o644,
                    replace: force)
                issued.append((name, certificatePath, keyPath))
            }
            return Result(caCertificate: caPath, reusedCA: reused, issued: issued)
        } catch let error as TunnelError {
            throw error
        } catch {
            throw TunnelError(.invalidArgument, "keygen in \(directory): \(error)")
        }
    }

    private static func loadOrMakeCA(
        certificate path: String, key keyPath: String, now: Date
    ) throws -> (Certificate, P256.Signing.PrivateKey, Bool) {
        let haveCertificate = access(path, F_OK) == 0
        let haveKey = access(keyPath, F_OK) == 0
        if haveCertificate && haveKey {
            let certificate = try Certificate(pemEncoded: String(decoding: try PEMFile.load(path), as: UTF8.self))
            let key = try P256.Signing.PrivateKey(pemRepresentation: String(decoding: try PEMFile.load(keyPath), as: UTF8.self))
            guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw TunnelError(.invalidArgument, "\(keyPath) is not the key of \(path)")
            }
            return (certificate, key, true)
        }
        guard !haveCertificate && !haveKey else {
            throw TunnelError(
                .invalidArgument, "only one of \(path) and \(keyPath) exists; restore the other or remove both")
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Replica")
            CommonName("Replica deployment CA")
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - 3600, notValidAfter: now + caValidity, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        try PEMFile.store(Array(key.pemRepresentation.utf8), to: keyPath, permissions: 0o600, replace: false)
        try PEMFile.store(
            Array(try certificate.serializeAsPEM().pemString.utf8), to: path, permissions: 0o644, replace: false)
        return (certificate, key, false)
    }

    private static func makeLeaf(
        name: String, key: P256.Signing.PrivateKey, ca: Certificate, caKey: P256.Signing.PrivateKey, now: Date
    ) throws -> Certificate {
        let publicKey = Certificate.PublicKey(key.publicKey)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - 3600, notValidAfter: min(now + leafValidity, ca.notValidAfter), issuer: ca.subject,
            subject: try DistinguishedName {
                OrganizationName("Replica")
                CommonName(name)
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.dnsName(name)])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: ca.publicKey).keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))
    }
}
