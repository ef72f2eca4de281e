import ReplicaTunnel
import Testing

/// The DNS messages of the resolver and the dnsmasq counters: queries as RFC 1035 lays them out, replies parsed
/// with every length checked.
@Suite("DNS messages")
struct DNSMessageTests {
    /// A reply to `id` carrying `answers` (type, data), with the question echoed and the name compressed.
    static func reply(id: UInt16, code: UInt8 = 0, question: [UInt8], answers: [(UInt16, [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = [
            UInt8(id >> 8), UInt8(id & 0xff), 0x81, 0x80 | code, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0,
        ]
        bytes += question.dropFirst(12)
        for (type, data) in answers {
            bytes += [0xc0, 12, UInt8(type >> 8), UInt8(type & 0xff), 0, 1, 0, 0, 0, 60, 0, UInt8(data.count)] + data
        }
        return bytes
    }

    @Test("a query names the host label by label, asks for recursion and one question")
    func query() throws {
        let bytes = try DNSMessage.query(id: 0x1234, name: "app.test", type: .a, class: .internet)
        #expect(
            bytes == [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 97, 112, 112, 4, 116, 101, 115, 116, 0, 0, 1, 0, 1])
        #expect(throws: TunnelError.self) { try DNSMessage.query(id: 1, name: "a..b", type: .a, class: .internet) }
        #expect(throws: TunnelError.self) {
            try DNSMessage.query(id: 1, name: String(repeating: "x", count: 64), type: .a, class: .internet)
        }
    }

    @Test("A, AAAA and TXT answers parse; other types are skipped")
    func answers() throws {
        let question = try DNSMessage.query(id: 7, name: "hits.bind", type: .txt, class: .chaos)
        let txt = Self.reply(id: 7, question: question, answers: [(16, [2, 52, 50]), (1, [1, 2, 3, 4])])
        #expect(try DNSMessage.answers(txt, id: 7, type: .txt) == [.text("42")])
        let a = Self.reply(id: 7, question: question, answers: [(1, [10, 0, 0, 1])])
        #expect(try DNSMessage.answers(a, id: 7, type: .a) == [.ipv4([10, 0, 0, 1])])
        let nxdomain = Self.reply(id: 7, code: 3, question: question, answers: [])
        #expect(try DNSMessage.answers(nxdomain, id: 7, type: .a) == [])
    }

    @Test("every truncation of a reply, another query's id, and an error code throw instead of trapping")
    func hostileReplies() throws {
        let question = try DNSMessage.query(id: 9, name: "app.test", type: .a, class: .internet)
        let good = Self.reply(
            id: 9, question: question, answers: [(1, [127, 0, 0, 1]), (16, [5, 104, 101, 108, 108, 111])])
        for length in 0..<good.count {
            #expect(throws: TunnelError.self) { try DNSMessage.answers(Array(good.prefix(length)), id: 9, type: .a) }
        }
        #expect(throws: TunnelError.self) { try DNSMessage.answers(good, id: 10, type: .a) }
        let refused = Self.reply(id: 9, code: 5, question: question, answers: [])
        #expect(throws: TunnelError.self) { try DNSMessage.answers(refused, id: 9, type: .a) }
        var badTXT = Self.reply(id: 9, question: question, answers: [(16, [9, 1])])
        #expect(throws: TunnelError.self) { try DNSMessage.answers(badTXT, id: 9, type: .txt) }
        badTXT = Self.reply(id: 9, question: question, answers: [(1, [1, 2, 3])])
        #expect(throws: TunnelError.self) { try DNSMessage.answers(badTXT, id: 9, type: .a) }
    }
}
