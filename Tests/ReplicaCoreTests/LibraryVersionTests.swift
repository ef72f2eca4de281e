import ReplicaCore
import Testing

@Suite("Linked C libraries")
struct LibraryVersionTests {
    /// `zstd 1.5.4, lz4 1.9.4, xxhash 0.8.1` -> [[1,5,4],[1,9,4],[0,8,1]].
    static func versions() -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for part in Replica.libraryVersions.split(separator: ",") {
            let words = part.split(separator: " ")
            result[String(words[0])] = words[1].split(separator: ".").compactMap { Int($0) }
        }
        return result
    }

    @Test("the linked libraries are new enough for the calls Replica makes")
    func minimumVersions() throws {
        let versions = Self.versions()
        // ZSTD_compressStream2, ZSTD_CCtx_refPrefix and ZSTD_minCLevel need zstd 1.4.0.
        #expect(try #require(versions["zstd"]).lexicographicallyPrecedes([1, 4, 0]) == false)
        // LZ4_compress_fast_extState and LZ4_decompress_safe are in every 1.9 release.
        #expect(try #require(versions["lz4"]).lexicographicallyPrecedes([1, 8, 0]) == false)
        // XXH3 is stable API from xxHash 0.8.0.
        #expect(try #require(versions["xxhash"]).lexicographicallyPrecedes([0, 8, 0]) == false)
    }
}
