internal import CXXHash

/// Safe wrappers over libxxhash's XXH3. The only file of ReplicaCore that calls libxxhash.
package enum XXHash {
    /// Wraps `XXH3_128bits`.
    static func hash128(_ bytes: UnsafeRawBufferPointer) -> Fingerprint {
        let value = XXH3_128bits(bytes.baseAddress, bytes.count)
        return Fingerprint(high: value.high64, low: value.low64)
    }

    /// Wraps `XXH3_128bits_withSecret`.
    /// - Precondition: `secret` holds at least `XXH3_SECRET_SIZE_MIN` (136) bytes.
    static func hash128(_ bytes: UnsafeRawBufferPointer, secret: UnsafeRawBufferPointer) -> Fingerprint {
        precondition(secret.count >= 136, "XXH3 secrets are at least 136 bytes")
        let value = XXH3_128bits_withSecret(bytes.baseAddress, bytes.count, secret.baseAddress, secret.count)
        return Fingerprint(high: value.high64, low: value.low64)
    }

    /// Wraps `XXH3_64bits`: the checksum of blocks, headers and trailers.
    package static func hash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits(bytes.baseAddress, bytes.count)
    }

    /// The 64-bit version number of the linked library, as `XXH_versionNumber` reports it.
    static var libraryVersion: UInt32 { XXH_versionNumber() }
}

/// An incremental XXH3-64 over a stream, for the whole-content checksum. Owns one `XXH3_state_t`.
final class XXH3Stream {
    private let state: OpaquePointer

    /// - Throws: ``CodecError`` if libxxhash cannot allocate its state.
    init() throws(CodecError) {
        guard let state = XXH3_createState() else {
            throw CodecError(.outOfMemory, call: "XXH3_createState", message: "out of memory")
        }
        self.state = state
        XXH3_64bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    /// Wraps `XXH3_64bits_update`.
    func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        _ = XXH3_64bits_update(state, bytes.baseAddress, bytes.count)
    }

    /// Wraps `XXH3_64bits_digest`.
    var digest: UInt64 { XXH3_64bits_digest(state) }

    /// Wraps `XXH3_64bits_reset`.
    func reset() { _ = XXH3_64bits_reset(state) }
}

/// An incremental XXH3-128, for a checksum over bytes that arrive in pieces: the same value as `XXH3_128bits`
/// of the pieces joined. Owns one `XXH3_state_t`.
package final class XXH3Stream128 {
    private let state: OpaquePointer

    /// - Throws: ``CodecError`` if libxxhash cannot allocate its state.
    package init() throws(CodecError) {
        guard let state = XXH3_createState() else {
            throw CodecError(.outOfMemory, call: "XXH3_createState", message: "out of memory")
        }
        self.state = state
        XXH3_128bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    /// Wraps `XXH3_128bits_update`.
    package func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        _ = XXH3_128bits_update(state, bytes.baseAddress, bytes.count)
    }

    /// Wraps `XXH3_128bits_digest`.
    package var digest: Fingerprint {
        let value = XXH3_128bits_digest(state)
        return Fingerprint(high: value.high64, low: value.low64)
    }

    /// Wraps `XXH3_128bits_reset`.
    package func reset() { _ = XXH3_128bits_reset(state) }
}
