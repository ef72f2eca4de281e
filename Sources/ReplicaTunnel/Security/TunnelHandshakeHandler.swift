import NIOCore
import NIOSSL
import NIOTLS

/// Guards a peer connection until it is authenticated: it closes the connection when the TLS handshake has not
/// completed within the deadline, and on NIOSSL's `handshakeCompleted` event it reads the peer's identity, checks
/// the expected name, hands the channel to `authenticated` (which builds the session) and leaves the pipeline.
///
/// Nothing is created for the peer before that event: no session, encoder, decoder, store access or dial-out.
final class TunnelHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Builds the session pipeline for an authenticated peer; runs on the channel's event loop.
    typealias Authenticated = (any Channel, TunnelPeerIdentity) throws -> Void

    private let timeout: TimeAmount
    private let expectedPeerName: String?
    private let peerAddress: String
    private let log: TunnelLog
    private let authenticated: Authenticated
    private var deadline: Scheduled<Void>?
    /// Whether the handshake completed or the connection was refused.
    private var done = false
    private var refused = false
    /// Set when this connection's certificate verifier rejected the peer's chain, so the handshake error that
    /// follows is counted as an untrusted certificate rather than a generic TLS error.
    var rejectedPeerChain = false

    init(
        timeout: TimeAmount, expectedPeerName: String?, peerAddress: String, log: TunnelLog,
        authenticated: @escaping Authenticated
    ) {
        self.timeout = timeout
        self.expectedPeerName = expectedPeerName
        self.peerAddress = peerAddress
        self.log = log
        self.authenticated = authenticated
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armDeadline(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armDeadline(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    private func armDeadline(_ context: ChannelHandlerContext) {
        guard deadline == nil, !done else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.refuse(
                context, .timeout, "no TLS handshake within \(handler.timeout.nanoseconds / 1_000_000) ms")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent, !done else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        done = true
        deadline?.cancel()
        deadline = nil
        let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self).peerCertificate
        guard let certificate, let identity = TunnelPeerIdentity(certificate: certificate) else {
            refuse(context, .peerName, "the peer's certificate names no one (no common name or DNS name)")
            return
        }
        if let expectedPeerName, !identity.allNames.contains(expectedPeerName) {
            refuse(
                context, .peerName,
                "the peer's certificate is for \(LogText.escape(identity.allNames.joined(separator: ", "))), "
                    + "not \(LogText.escape(expectedPeerName))")
            return
        }
        do {
            try authenticated(context.channel, identity)
        } catch {
            refuse(context, nil, "cannot start the link: \(error)")
            return
        }
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !done else {
            context.fireErrorCaught(error)
            return
        }
        if rejectedPeerChain {
            refuse(context, .untrustedCertificate, "the peer's certificate is not trusted: \(error)")
        } else {
            refuse(context, .tls, "TLS handshake failed: \(error)")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        // The peer hung up before the handshake finished (and before an error named why).
        if !done { TunnelMetrics.shared.handshakeFailed(rejectedPeerChain ? .untrustedCertificate : .tls) }
        done = true
        context.fireChannelInactive()
    }

    /// Closes the connection, logging why and counting it under `failure` (nil: not the peer's doing).
    private func refuse(_ context: ChannelHandlerContext, _ failure: HandshakeFailure?, _ reason: String) {
        guard !refused else { return }
        refused = true
        done = true
        deadline?.cancel()
        deadline = nil
        if let failure { TunnelMetrics.shared.handshakeFailed(failure) }
        log.event("refused", "refusing \(peerAddress): \(reason)")
        context.close(promise: nil)
    }
}
