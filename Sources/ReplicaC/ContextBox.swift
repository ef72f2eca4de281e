/// A context C holds as an opaque pointer: retained on create, released on free.
protocol ContextBox: AnyObject {
    /// The message of the last error, as `replica_*ctx_get_error_message` returns it.
    var errorMessage: ErrorMessage { get }
}

extension ContextBox {
    /// The handle for C.
    func retainedPointer() -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    /// The context behind a handle.
    ///
    /// - Throws: ``CFailure`` with `nullPointer` for NULL.
    static func from(_ pointer: OpaquePointer?) throws(CFailure) -> Self {
        guard let pointer else { throw CFailure(.nullPointer, "the context is NULL") }
        return Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    /// Balances ``retainedPointer()``; NULL does nothing.
    static func release(_ pointer: OpaquePointer?) {
        guard let pointer else { return }
        Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).release()
    }

    /// Runs `body` on the context behind `pointer`, turning errors into results and remembering their messages.
    static func calling(_ pointer: OpaquePointer?, _ body: (Self) throws -> UInt) -> UInt {
        let context: Self
        do {
            context = try from(pointer)
        } catch {
            return error.code.result
        }
        do {
            return try body(context)
        } catch {
            let failure = CFailure(classifying: error)
            context.errorMessage.set(failure.message)
            return failure.code.result
        }
    }

    /// `replica_*ctx_get_error_message` for `pointer`.
    static func message(_ pointer: OpaquePointer?) -> UnsafePointer<CChar> {
        guard let pointer else { return StaticString("the context is NULL").cString }
        return Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue().errorMessage.cString
    }
}
