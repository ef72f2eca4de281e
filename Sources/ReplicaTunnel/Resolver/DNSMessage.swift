/// The few DNS messages the tunnel needs (RFC 1035): a query for one name, and the answers of a reply.
///
/// Replies come from the network, so parsing checks every length against the bytes present and follows no
/// compression pointer (names are skipped, never expanded).
package enum DNSMessage {
    /// A record type.
    package enum RecordType: UInt16, Sendable {
        case a = 1
        case txt = 16
        case aaaa = 28
    }

    /// A record class.
    package enum RecordClass: UInt16, Sendable {
        /// Internet.
        case internet = 1
        /// CHAOS, where dnsmasq answers `hits.bind` and `misses.bind`.
        case chaos = 3
    }

    /// One answer of a reply.
    package enum Answer: Equatable, Sendable {
        case ipv4([UInt8])
        case ipv6([UInt8])
        case text(String)
    }

    /// The largest name accepted (RFC 1035: 255 bytes on the wire).
    static let maximumNameLength = 253

    /// A recursive query for `name`.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` for an empty label, a label over 63 bytes or a name over 253.
    package static func query(id: UInt16, name: String, type: RecordType, class recordClass: RecordClass)
        throws(TunnelError)
        -> [UInt8]
    {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard !trimmed.isEmpty, trimmed.utf8.count <= maximumNameLength else {
            throw TunnelError(.invalidArgument, "DNS name '\(name)' is empty or longer than 253 bytes")
        }
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let utf8 = Array(label.utf8)
            guard (1...63).contains(utf8.count) else {
                throw TunnelError(.invalidArgument, "DNS name '\(name)' has an empty or over-long label")
            }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes += [0, UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, UInt8(recordClass.rawValue)]
        return bytes
    }

    /// The answers of `reply` to the query `id`, of the asked type only.
    ///
    /// - Throws: ``TunnelError`` `protocolViolation` for a truncated or malformed reply, another query's id, or
    ///   an error code (NXDOMAIN gives an empty list instead).
    package static func answers(_ reply: [UInt8], id: UInt16, type: RecordType) throws(TunnelError) -> [Answer] {
        var reader = Reader(bytes: reply)
        guard let replyID = reader.u16(), let flags = reader.u16(), let questions = reader.u16(),
            let answerCount = reader.u16(), reader.skip(4)
        else { throw TunnelError(.protocolViolation, "DNS reply shorter than its header") }
        guard replyID == id, flags & 0x8000 != 0 else {
            throw TunnelError(.protocolViolation, "DNS reply to another query (id \(replyID), expected \(id))")
        }
        let code = flags & 0x000f
        if code == 3 { return [] }
        guard code == 0 else { throw TunnelError(.protocolViolation, "DNS server answered with error code \(code)") }
        for _ in 0..<questions {
            guard reader.skipName(), reader.skip(4) else {
                throw TunnelError(.protocolViolation, "DNS reply truncated in its question")
            }
        }
        var answers: [Answer] = []
        for _ in 0..<answerCount {
            guard reader.skipName(), let recordType = reader.u16(), reader.skip(6), let length = reader.u16(),
                let data = reader.take(Int(length))
            else { throw TunnelError(.protocolViolation, "DNS reply truncated in an answer") }
            guard recordType == type.rawValue else { continue }
            switch type {
            case .a where data.count == 4: answers.append(.ipv4(data))
            case .aaaa where data.count == 16: answers.append(.ipv6(data))
            case .txt:
                var text = Reader(bytes: data)
                var value = ""
                while let count = text.u8() {
                    guard let part = text.take(Int(count)) else {
                        throw TunnelError(.protocolViolation, "DNS TXT record truncated")
                    }
                    value += String(decoding: part, as: UTF8.self)
                }
                answers.append(.text(value))
            default: throw TunnelError(.protocolViolation, "DNS \(type) record of \(data.count) bytes")
            }
        }
        return answers
    }

    /// A cursor over bytes that returns nil instead of reading past the end.
    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u8() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() -> UInt16? {
            guard let high = u8(), let low = u8() else { return nil }
            return UInt16(high) << 8 | UInt16(low)
        }

        mutating func skip(_ count: Int) -> Bool {
            guard count <= bytes.count - offset else { return false }
            offset += count
            return true
        }

        mutating func take(_ count: Int) -> [UInt8]? {
            guard count <= bytes.count - offset else { return nil }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        /// Skips a name: labels up to a zero byte or a compression pointer (which ends the name in place).
        mutating func skipName() -> Bool {
            while let length = u8() {
                if length == 0 { return true }
                if length & 0xc0 == 0xc0 { return skip(1) }
                guard length & 0xc0 == 0, skip(Int(length)) else { return false }
            }
            return false
        }
    }
}
