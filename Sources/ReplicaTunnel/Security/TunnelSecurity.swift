public import NIOCore
import NIOSSL

/// How a tunnel endpoint proves who it is and checks its peer: mutual TLS 1.3 (the default), or plaintext
/// when an operator explicitly asks for it.
///
/// With mutual TLS each end presents its certificate and key, and accepts a peer whose certificate chains to
/// the deployment CA or is one of the pinned certificates. Nothing is allocated for a link (session, encoder,
/// decoder, store access, dial-out) before its handshake succeeds, and a connection that has not finished the
/// handshake within ``handshakeTimeout`` is closed.
///
/// ```swift
/// let security = try TunnelSecurity.mutualTLS(
///     certificateFile: "/etc/replica/hub.pem", keyFile: "/etc/replica/hub.key", caFile: "/etc/replica/ca.pem")
/// ```
public struct TunnelSecurity: Sendable {
    /// The default time a connection has to finish the TLS handshake: 10 seconds.
    public static let defaultHandshakeTimeout = TimeAmount.seconds(10)

    enum Mode: Sendable {
        case insecurePlaintext
        case mutualTLS(TunnelTLSMaterial)
    }

    let mode: Mode
    /// How long a connection may take to complete the handshake before it is closed.
    public var handshakeTimeout: TimeAmount

    /// Whether links are carried without TLS (no authentication, no encryption).
    public var isPlaintext: Bool {
        if case .insecurePlaintext = mode { return true }
        return false
    }

    /// The certificate name a client requires of its server, if any.
    public var expectedPeerName: String? {
        if case .mutualTLS(let material) = mode { return material.expectedPeerName }
        return nil
    }

    private init(mode: Mode, handshakeTimeout: TimeAmount) {
        self.mode = mode
        self.handshakeTimeout = handshakeTimeout
    }

    /// No TLS: anyone who can reach the port is a full peer, and bytes cross in the clear (checksums are not
    /// keyed, so an on-path relay can change them unnoticed). For tests and trusted networks only; the CLI asks
    /// for `--insecure-plaintext` and logs a warning.
    public static func insecurePlaintext(handshakeTimeout: TimeAmount = defaultHandshakeTimeout) -> TunnelSecurity {
        TunnelSecurity(mode: .insecurePlaintext, handshakeTimeout: handshakeTimeout)
    }

    /// Mutual TLS 1.3 from PEM files.
    ///
    /// - Parameters:
    ///   - certificateFile: this end's certificate (and any intermediates after it), PEM.
    ///   - keyFile: this end's private key, PEM.
    ///   - caFile: the deployment CA certificates, PEM; a peer whose chain verifies to one of them is trusted.
    ///   - pinnedCertificateFiles: peer certificates trusted as they are (their exact DER), with or without a CA.
    ///   - expectedPeerName: a name the peer's certificate must carry (CN or DNS SAN); a client sets this to
    ///     its server's name, so no other holder of a deployment certificate can pose as the server.
    ///   - handshakeTimeout: how long a connection may take to complete the handshake.
    /// - Throws: ``TunnelError`` `invalidArgument` naming the file that cannot be read or parsed, or saying that
    ///   nothing is trusted.
    public static func mutualTLS(
        certificateFile: String, keyFile: String, caFile: String?, pinnedCertificateFiles: [String] = [],
        expectedPeerName: String? = nil, handshakeTimeout: TimeAmount = defaultHandshakeTimeout
    ) throws(TunnelError) -> TunnelSecurity {
        func read(_ path: String, _ what: String) throws(TunnelError) -> [UInt8] {
            do {
                return try PEMFile.load(path)
            } catch {
                throw TunnelError(.invalidArgument, "cannot read the \(what) \(path): \(error)")
            }
        }
        return try mutualTLS(
            certificateChainPEM: read(certificateFile, "certificate"), privateKeyPEM: read(keyFile, "private key"),
            caPEM: caFile.map { path throws(TunnelError) in try read(path, "CA file") },
            pinnedCertificatesPEM: pinnedCertificateFiles.map { path throws(TunnelError) in
                try read(path, "pinned certificate")
            },
            expectedPeerName: expectedPeerName, handshakeTimeout: handshakeTimeout)
    }

    /// Mutual TLS 1.3 from PEM bytes; see ``mutualTLS(certificateFile:keyFile:caFile:pinnedCertificateFiles:expectedPeerName:handshakeTimeout:)``.
    public static func mutualTLS(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], caPEM: [UInt8]?, pinnedCertificatesPEM: [[UInt8]] = [],
        expectedPeerName: String? = nil, handshakeTimeout: TimeAmount = defaultHandshakeTimeout
    ) throws(TunnelError) -> TunnelSecurity {
        guard handshakeTimeout > .zero else {
            throw TunnelError(.invalidArgument, "the handshake timeout must be positive")
        }
        let material = try TunnelTLSMaterial(
            certificateChainPEM: certificateChainPEM, privateKeyPEM: privateKeyPEM, caPEM: caPEM,
            pinnedCertificatesPEM: pinnedCertificatesPEM, expectedPeerName: expectedPeerName)
        return TunnelSecurity(mode: .mutualTLS(material), handshakeTimeout: handshakeTimeout)
    }
}

/// The loaded certificates, keys and TLS contexts of one endpoint. Immutable, shared by every link.
final class TunnelTLSMaterial: Sendable {
    let serverContext: NIOSSLContext
    let clientContext: NIOSSLContext
    let verifier: TunnelCertificateVerifier
    let expectedPeerName: String?

    init(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], caPEM: [UInt8]?, pinnedCertificatesPEM: [[UInt8]],
        expectedPeerName: String?
    ) throws(TunnelError) {
        func parse<T>(_ what: String, _ body: () throws -> T) throws(TunnelError) -> T {
            do { return try body() } catch { throw TunnelError(.invalidArgument, "the \(what) is not valid PEM: \(error)") }
        }
        let chain = try parse("certificate") { try NIOSSLCertificate.fromPEMBytes(certificateChainPEM) }
        let key = try parse("private key") { try NIOSSLPrivateKey(bytes: privateKeyPEM, format: .pem) }
        let roots = try parse("CA file") { try caPEM.map { try NIOSSLCertificate.fromPEMBytes($0) } ?? [] }
        let pinned = try parse("pinned certificate") {
            try pinnedCertificatesPEM.flatMap { try NIOSSLCertificate.fromPEMBytes($0) }
        }
        guard !chain.isEmpty else { throw TunnelError(.invalidArgument, "the certificate file holds no certificate") }
        guard !roots.isEmpty || !pinned.isEmpty else {
            throw TunnelError(.invalidArgument, "nothing is trusted: give a CA file or pinned certificates")
        }
        verifier = try TunnelCertificateVerifier(roots: roots, pinned: pinned)
        self.expectedPeerName = expectedPeerName
        let trust = NIOSSLTrustRoots.certificates(roots + pinned)
        var server = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key), trustRoots: trust)
        server.minimumTLSVersion = .tlsv13
        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = .tlsv13
        client.certificateVerification = .noHostnameVerification
        client.trustRoots = trust
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        serverContext = try parse("TLS configuration") { try NIOSSLContext(configuration: server) }
        clientContext = try parse("TLS configuration") { try NIOSSLContext(configuration: client) }
    }
}
