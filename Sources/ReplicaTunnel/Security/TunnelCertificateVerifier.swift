import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Decides whether a peer's certificate chain is trusted: its leaf is one of the pinned certificates (same
/// DER), or the chain verifies to a deployment CA under RFC 5280 (signatures, validity dates, CA constraints).
///
/// It replaces BoringSSL's chain verification (NIOSSL's custom verification callback), so pinning works for
/// CA-issued leaves too; the TLS handshake itself still proves that the peer holds the certificate's key.
final class TunnelCertificateVerifier: Sendable {
    private let roots: [Certificate]
    private let pinned: Set<[UInt8]>

    init(roots: [NIOSSLCertificate], pinned: [NIOSSLCertificate]) throws(TunnelError) {
        do {
            self.roots = try roots.map { try Certificate(derEncoded: try $0.toDERBytes()) }
            self.pinned = Set(try pinned.map { try $0.toDERBytes() })
        } catch {
            throw TunnelError(.invalidArgument, "a trusted certificate cannot be parsed: \(error)")
        }
    }

    /// NIOSSL's callback: completes `promise` with the verdict on `chain` (leaf first).
    func verify(_ chain: [NIOSSLCertificate], _ promise: EventLoopPromise<NIOSSLVerificationResult>) {
        guard let leafDER = try? chain.first?.toDERBytes() else {
            promise.succeed(.failed)
            return
        }
        if pinned.contains(leafDER) {
            promise.succeed(.certificateVerified)
            return
        }
        guard !roots.isEmpty, let leaf = try? Certificate(derEncoded: leafDER) else {
            promise.succeed(.failed)
            return
        }
        let intermediates = chain.dropFirst().compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        let roots = roots
        promise.completeWithTask {
            var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
                RFC5280Policy()
            }
            switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
            case .validCertificate: return .certificateVerified
            case .couldNotValidate: return .failed
            }
        }
    }
}
