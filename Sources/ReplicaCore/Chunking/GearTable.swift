/// The 256-entry Gear table and the masks of FastCDC, optionally keyed by a seed.
///
/// The table is a final class so that every chunker with the same seed shares one immutable copy.
final class GearTable: Sendable {
    /// `GEAR[i]`, XOR the seed.
    let gear: [UInt64]
    /// `GEAR[i] << 1`, XOR `seed << 1`: the FastCDC 2020 table for the even byte of each pair.
    let gearShifted: [UInt64]

    init(seed: UInt64) {
        gear = Self.standard.map { $0 ^ seed }
        gearShifted = Self.standard.map { ($0 << 1) ^ (seed << 1) }
    }

    /// The unseeded table, shared.
    static let unseeded = GearTable(seed: 0)

    static func table(seed: UInt64) -> GearTable { seed == 0 ? unseeded : GearTable(seed: seed) }

    /// FastCDC's masks, indexed by the number of bits. The values for 64 B to 128 KiB come from the C reference
    /// implementation (destor), the rest from restic-FastCDC, as in fastcdc-rs: the bits are spread out because
    /// the paper found that slightly improves deduplication.
    static let masks: [UInt64] = [
        0, 0, 0, 0, 0,  // 0 to 4 bits: unused
        0x0000_0000_0180_4110,  // 5: only normalisation level 3 at 256 B reaches it
        0x0000_0000_0180_3110, 0x0000_0000_1803_5100, 0x0000_0018_0003_5300,  // 6 to 8: 64 B to 256 B
        0x0000_0190_0035_3000, 0x0000_5900_0353_0000, 0x0000_d900_0353_0000,  // 9 to 11: 512 B to 2 KiB
        0x0000_d901_0353_0000, 0x0000_d903_0353_0000, 0x0000_d903_1353_0000,  // 12 to 14: 4 KiB to 16 KiB
        0x0000_d90f_0353_0000, 0x0000_d903_0353_7000, 0x0000_d907_0353_7000,  // 15 to 17: 32 KiB to 128 KiB
        0x0000_d907_0753_7000, 0x0000_d917_0753_7000, 0x0000_d917_4753_7000,  // 18 to 20: 256 KiB to 1 MiB
        0x0000_d917_6753_7000, 0x0000_d937_6753_7000, 0x0000_d937_7753_7000,  // 21 to 23: 2 MiB to 8 MiB
        0x0000_d937_7757_7000, 0x0000_db37_7757_7000,  // 24: 16 MiB; 25: only normalisation level 3
    ]

    /// The mask indices that hold a real mask.
    static let usableMaskBits = 5...25
}
