import ReplicaCore

/// What a `replica_store*` points to: a retained box around a memory or disk store.
final class StoreHandle {
    let store: any ChunkWriting
    /// The same store when it is on disk, for flush and close.
    let disk: DiskChunkStore?

    init(memory capacity: Int) {
        store = MemoryChunkStore(capacity: capacity)
        disk = nil
    }

    init(directory: String, capacity: Int?) throws {
        let options = try DiskChunkStore.Options(capacity: capacity)
        let disk = try DiskChunkStore(directory: directory, options: options)
        self.store = disk
        self.disk = disk
    }

    var chunkCount: Int {
        if let disk { return disk.statistics.chunks }
        return (store as? MemoryChunkStore)?.count ?? 0
    }

    /// The handle for C; the box stays alive until ``release(_:)``.
    func retainedPointer() -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    /// The box behind a handle, or `nil` for NULL.
    static func from(_ pointer: OpaquePointer?) -> StoreHandle? {
        pointer.map { Unmanaged<StoreHandle>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
    }

    /// Balances ``retainedPointer()``.
    static func release(_ pointer: OpaquePointer) {
        Unmanaged<StoreHandle>.fromOpaque(UnsafeRawPointer(pointer)).release()
    }
}

/// `replica_store_create_memory`.
@_cdecl("replica_store_create_memory")
public func replicaStoreCreateMemory(_ capacity: UInt) -> OpaquePointer? {
    guard capacity > 0 else { return nil }
    return StoreHandle(memory: Int(clamping: capacity)).retainedPointer()
}

/// `replica_store_open_disk`.
@_cdecl("replica_store_open_disk")
public func replicaStoreOpenDisk(
    _ directory: UnsafePointer<CChar>?, _ capacity: CUnsignedLongLong, _ error: UnsafeMutablePointer<UInt>?
) -> OpaquePointer? {
    var handle: OpaquePointer?
    let result = catchingErrors {
        guard let directory else { throw CFailure(.nullPointer, "the store directory is NULL") }
        let path = String(cString: directory)
        guard !path.isEmpty else { throw CFailure(.parameterOutOfBound, "the store directory is empty") }
        let store = try StoreHandle(directory: path, capacity: capacity == 0 ? nil : Int(clamping: capacity))
        handle = store.retainedPointer()
        return 0
    }
    error?.pointee = result
    return handle
}

/// `replica_store_flush`.
@_cdecl("replica_store_flush")
public func replicaStoreFlush(_ pointer: OpaquePointer?) -> UInt {
    catchingErrors {
        guard let handle = StoreHandle.from(pointer) else { throw CFailure(.nullPointer, "the store is NULL") }
        try handle.disk?.flush()
        return 0
    }
}

/// `replica_store_chunk_count`.
@_cdecl("replica_store_chunk_count")
public func replicaStoreChunkCount(_ pointer: OpaquePointer?) -> CUnsignedLongLong {
    CUnsignedLongLong(StoreHandle.from(pointer)?.chunkCount ?? 0)
}

/// `replica_store_free`.
@_cdecl("replica_store_free")
public func replicaStoreFree(_ pointer: OpaquePointer?) -> UInt {
    guard let pointer, let handle = StoreHandle.from(pointer) else { return 0 }
    let result = catchingErrors {
        try handle.disk?.close()
        return 0
    }
    StoreHandle.release(pointer)
    return result
}
