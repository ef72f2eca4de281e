import NIOCore
import ReplicaTunnel
import Synchronization
import Testing

/// Peer-supplied text reaching a log: escaped, bounded, rate-limited.
@Suite struct LogTextTests {
    @Test(arguments: [
        ("a\nforged: link to admin is up", "a\\nforged: link to admin is up"),
        ("\u{1B}[2J\u{1B}]0;owned\u{07}", "\\e[2J\\e]0;owned\\u{7}"),
        ("cr\rlf\ttab\u{7F}del", "cr\\rlf\\ttab\\u{7f}del"),
        ("c1\u{9B}31m", "c1\\u{9b}31m"),
        ("bidi\u{202E}txt.exe", "bidi\\u{202e}txt.exe"),
        ("zero\u{200B}width", "zero\\u{200b}width"),
        ("nul\u{0}byte", "nul\\u{0}byte"),
        ("back\\slash", "back\\\\slash"),
        ("line\u{2028}sep", "line\\u{2028}sep"),
        ("plain host-name.example:443", "plain host-name.example:443"),
        ("caf\u{E9} \u{4E2D}\u{6587}", "caf\u{E9} \u{4E2D}\u{6587}"),
    ])
    func hostileTextIsEscaped(input: String, expected: String) {
        let escaped = LogText.escape(input)
        #expect(escaped == expected)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
    }

    @Test func overlongTextIsCut() {
        let escaped = LogText.escape(String(repeating: "A", count: 100_000))
        #expect(escaped.hasPrefix(String(repeating: "A", count: LogText.maximumLength)))
        #expect(escaped.hasSuffix("...(\(100_000 - LogText.maximumLength) more characters)"))
        #expect(escaped.count < LogText.maximumLength + 40)
        // Escapes count against the bound by source character, so the output stays bounded too.
        let controls = LogText.escape(String(repeating: "\u{1B}", count: 10_000))
        #expect(controls.count < LogText.maximumLength * 2 + 40)
    }

    @Test func targetsFromPeersAreEscapedInDescriptions() {
        let target = TunnelTarget(host: "evil\nhost\u{1B}[31m", port: 80)
        #expect(target.description == "evil\\nhost\\e[31m:80")
    }

    @Test func repeatedEventsAreRateLimitedAndCounted() {
        let now = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000))
        let lines = Mutex<[String]>([])
        let log = TunnelLog({ line in lines.withLock { $0.append(line) } }, clock: { now.withLock { $0 } })
        for index in 0..<1000 { log.event("refused", "refusing peer \(index)") }
        #expect(lines.withLock { $0.count } == 20)  // the burst
        now.withLock { $0 = $0 + .seconds(1) }
        log.event("refused", "refusing peer again")
        let all = lines.withLock { $0 }
        #expect(all.count == 21)
        #expect(all.last == "refusing peer again (980 similar lines were suppressed)")
        // Another kind of event has its own budget.
        log.event("admission", "too many links")
        #expect(lines.withLock { $0.count } == 22)
        // A link's logger is limited on its own.
        let link = log.linkLogger()
        for _ in 0..<100 { link("stream reset") }
        #expect(lines.withLock { $0.count } == 42)
    }
}
