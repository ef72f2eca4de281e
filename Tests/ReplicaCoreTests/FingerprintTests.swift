import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("Fingerprints")
struct FingerprintTests {
    @Test("XXH3-128 of known inputs matches xxhsum -H2")
    func knownValues() {
        // `printf '' | xxhsum -H2` and `printf 'abc' | xxhsum -H2` (xxHash 0.8.1).
        #expect(Fingerprinter().fingerprint([]).description == "99aa06d3014798d86001c324468d497f")
        #expect(Fingerprinter().fingerprint(Array("abc".utf8)).description == "06b05ab6733a618578af5f94892f3950")
    }

    @Test("hex and canonical forms round-trip and order like the numbers")
    func representations() throws {
        let print = Fingerprinter().fingerprint(TestCorpus.random(100))
        #expect(Fingerprint(hex: print.description) == print)
        #expect(Fingerprint(canonical: print.canonicalBytes) == print)
        #expect(Fingerprint(hex: "xyz") == nil)
        #expect(Fingerprint(high: 1, low: 0) > Fingerprint(high: 0, low: .max))
    }

    @Test("a key changes every fingerprint and short keys are refused")
    func keyed() throws {
        let data = TestCorpus.random(5000)
        let keyed = try Fingerprinter(key: Array(repeating: 7, count: 16))
        #expect(keyed.fingerprint(data) != Fingerprinter().fingerprint(data))
        #expect(keyed.fingerprint(data) == (try Fingerprinter(key: Array(repeating: 7, count: 16))).fingerprint(data))
        #expect(throws: ConfigurationError.self) { try Fingerprinter(key: [1, 2, 3]) }
    }
}
