#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#else
#error("ReplicaCore's disk store needs a POSIX C library: Glibc, Musl or Darwin")
#endif

/// The few C library calls whose names the store's own types shadow (`StoreFile.open`, `StoreIO.rename`), named
/// through the platform's module. Every other call is plain POSIX, imported per file through the same
/// `#if canImport` chain (Glibc on Debian, Musl for static Linux SDK builds, Darwin on macOS).
enum Platform {
    /// Wraps `open(2)`.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        #if canImport(Glibc)
        Glibc.open(path, flags, mode)
        #elseif canImport(Musl)
        Musl.open(path, flags, mode)
        #else
        Darwin.open(path, flags, mode)
        #endif
    }

    /// Wraps `rename(2)`.
    static func rename(_ from: String, _ to: String) -> Int32 {
        #if canImport(Glibc)
        Glibc.rename(from, to)
        #elseif canImport(Musl)
        Musl.rename(from, to)
        #else
        Darwin.rename(from, to)
        #endif
    }
}
