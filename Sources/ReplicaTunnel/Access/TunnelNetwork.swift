#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import NIOCore
#if canImport(CNIOLinux)
import CNIOLinux  // in6_addr and sockaddr_in6 as NIO sees them (MemberImportVisibility)
#endif

/// An IPv4 or IPv6 network: an address and a prefix length (`10.0.0.0/8`, `fd00::/8`, or one address, which is
/// a /32 or /128). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as the IPv4 address they carry.
public struct TunnelNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The network's address, 4 or 16 bytes, with the host bits cleared.
    public let address: [UInt8]
    /// How many leading bits name the network.
    public let prefixLength: Int

    /// Parses `ADDRESS` or `ADDRESS/PREFIX` (IPv6 optionally in brackets); `nil` when it is neither.
    public init?(parsing text: String) {
        var text = Substring(text.filter { $0 != "[" && $0 != "]" })
        var prefix: Int?
        if let slash = text.lastIndex(of: "/") {
            guard let value = Int(text[text.index(after: slash)...]) else { return nil }
            prefix = value
            text = text[..<slash]
        }
        guard let bytes = Self.bytes(ofLiteral: String(text)) else { return nil }
        let length = prefix ?? bytes.count * 8
        guard (0...(bytes.count * 8)).contains(length) else { return nil }
        self.address = Self.mask(bytes, to: length)
        self.prefixLength = length
    }

    /// Whether `address` (4 or 16 bytes) lies in this network.
    public func contains(_ address: [UInt8]) -> Bool {
        let address = Self.unmapped(address)
        return address.count == self.address.count && Self.mask(address, to: prefixLength) == self.address
    }

    /// Whether the socket address's IP lies in this network.
    public func contains(_ address: SocketAddress) -> Bool {
        Self.bytes(of: address).map(contains) ?? false
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = address.count == 4 ? AF_INET : AF_INET6
        let text = address.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        let host = text == nil ? "?" : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host)/\(prefixLength)"
    }

    /// The bytes of an IPv4 or IPv6 literal (IPv4-mapped IPv6 as IPv4), or `nil` when `text` is not one.
    public static func bytes(ofLiteral text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return unmapped(withUnsafeBytes(of: &v6) { Array($0) }) }
        return nil
    }

    /// The IP bytes of a socket address (IPv4-mapped IPv6 as IPv4).
    public static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4):
            var raw = v4.address.sin_addr
            return withUnsafeBytes(of: &raw) { Array($0) }
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            return unmapped(withUnsafeBytes(of: &raw) { Array($0) })
        case .unixDomainSocket:
            return nil
        }
    }

    private static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else {
            return bytes
        }
        return Array(bytes[12...])
    }

    private static func mask(_ bytes: [UInt8], to length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(8, max(0, length - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8(0xFF) >> bits)
        }
    }
}
