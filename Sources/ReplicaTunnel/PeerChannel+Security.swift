import NIOCore
import NIOSSL

extension PeerChannel {
    /// Which end of a link a channel is.
    enum End {
        case server
        case client
    }

    /// Puts the security layer on a new peer channel and calls `authenticated` once the peer is who it must be:
    /// at once in plaintext mode (with no identity), else after a successful mutual-TLS handshake within the
    /// deadline. Must run on the channel's event loop.
    static func secure(
        _ channel: any Channel, end: End, security: TunnelSecurity, log: TunnelLog,
        authenticated: @escaping (TunnelPeerIdentity?) throws -> Void
    ) throws {
        let peerAddress = channel.remoteAddress.map(TunnelLog.format) ?? "a peer"
        switch security.mode {
        case .insecurePlaintext:
            try authenticated(nil)
        case .mutualTLS(let material):
            let verifier = material.verifier
            let guardian = TunnelHandshakeHandler(
                timeout: security.handshakeTimeout, expectedPeerName: material.expectedPeerName,
                peerAddress: peerAddress, log: log
            ) { _, identity in try authenticated(identity) }
            // The verdict runs on this channel's loop; a rejection tells the guardian why the handshake fails.
            let verify: NIOSSLCustomVerificationCallback = { chain, promise in
                promise.futureResult.assumeIsolated().whenSuccess { verdict in
                    if verdict == .failed { guardian.rejectedPeerChain = true }
                }
                verifier.verify(chain, promise)
            }
            let tls: NIOSSLHandler
            if case .server = end {
                tls = NIOSSLServerHandler(context: material.serverContext, customVerificationCallback: verify)
            } else {
                tls = try NIOSSLClientHandler(
                    context: material.clientContext, serverHostname: nil, customVerificationCallback: verify)
            }
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(tls)
            try operations.addHandler(guardian)
        }
    }
}

extension PeerChannel {
    /// How a link's peer is named in log lines: its certificate name (escaped) and address.
    static func describe(_ channel: any Channel, _ identity: TunnelPeerIdentity?) -> String {
        let address = channel.remoteAddress.map(TunnelLog.format) ?? "peer"
        return identity.map { "\($0) at \(address)" } ?? address
    }
}
