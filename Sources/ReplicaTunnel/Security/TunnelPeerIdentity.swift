import NIOSSL
import SwiftASN1
import X509

/// Who an authenticated peer is: the names its verified certificate carries.
///
/// ``name`` is the subject's common name, or the first DNS subject-alternative name when the subject has no
/// common name; forwarding permissions are granted to it. Peer-supplied text: escape it before logging.
public struct TunnelPeerIdentity: Hashable, Sendable, CustomStringConvertible {
    /// The identity permissions are granted to.
    public let name: String
    /// Every name in the certificate (common name and DNS SANs), for matching an expected server name.
    public let allNames: [String]

    /// Creates an identity.
    public init(name: String, allNames: [String]) {
        self.name = name
        self.allNames = allNames
    }

    /// Reads the names of a certificate.
    ///
    /// - Returns: `nil` when the certificate has neither a common name nor a DNS name.
    init?(certificate: NIOSSLCertificate) {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
            return nil
        }
        var commonNames: [String] = []
        for relativeName in parsed.subject {
            for attribute in relativeName where attribute.type == ASN1ObjectIdentifier.RDNAttributeType.commonName {
                commonNames.append(String(describing: attribute.value))
            }
        }
        var dnsNames: [String] = []
        if let alternatives = try? parsed.extensions.subjectAlternativeNames {
            for case .dnsName(let name) in alternatives { dnsNames.append(name) }
        }
        guard let first = commonNames.first ?? dnsNames.first else { return nil }
        self.init(name: first, allNames: commonNames + dnsNames)
    }

    public var description: String { LogText.escape(name) }
}
