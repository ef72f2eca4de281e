public import NIOCore
import ReplicaCore

/// Parses peer-protocol frames from a byte stream.
///
/// Every length is checked against ``frameLimit`` (or the smaller fixed bound of its frame type) as soon as the
/// 10-byte header is in, before any byte of the payload is buffered for it. A violation throws ``TunnelError``,
/// after which `ByteToMessageHandler` closes the channel.
public struct TunnelFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = TunnelFrame

    /// The largest payload accepted.
    public let frameLimit: Int
    /// The DATA flag for a payload that bypassed the engine.
    static let plainFlag: UInt8 = 1

    /// Creates a decoder.
    ///
    /// - Parameter frameLimit: the largest frame payload to accept.
    public init(frameLimit: Int = TunnelProtocol.defaultFrameLimit) {
        self.frameLimit = frameLimit
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> TunnelFrame? {
        let size = TunnelProtocol.frameHeaderSize
        guard let typeCode = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let flags = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self),
            let stream = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 6, as: UInt32.self)
        else { return nil }
        guard let kind = TunnelFrame.Kind(rawValue: typeCode) else {
            throw TunnelError(.protocolViolation, "unknown frame type 0x\(String(typeCode, radix: 16))")
        }
        guard flags == 0 || (kind == .data && flags == Self.plainFlag) else {
            throw TunnelError(.protocolViolation, "\(kind) frame has flags 0x\(String(flags, radix: 16)), expected 0")
        }
        guard kind.isStreamFrame == (stream != 0) else {
            throw TunnelError(
                .protocolViolation,
                kind.isStreamFrame ? "\(kind) frame on stream 0" : "\(kind) frame on stream \(stream), expected 0")
        }
        let limit = Self.limit(for: kind, frameLimit: frameLimit)
        guard Int(length) <= limit else {
            throw TunnelError(.frameTooLarge, "\(kind) frame declares \(length) payload bytes, the limit is \(limit)")
        }
        guard buffer.readableBytes >= size + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: size)
        guard var payload = buffer.readSlice(length: Int(length)) else { return nil }
        var frame = try Self.parse(kind, stream: stream, payload: &payload)
        if flags == Self.plainFlag, case .data(let id, var data) = frame {
            guard data.references.isEmpty, data.encoded.readableBytes == Int(data.decodedLength) else {
                throw TunnelError(.protocolViolation, "plain DATA on stream \(id) with references or a wrong length")
            }
            data.isPlain = true
            frame = .data(stream: id, data)
        }
        guard payload.readableBytes == 0 else {
            throw TunnelError(.protocolViolation, "\(kind) frame has \(payload.readableBytes) trailing bytes")
        }
        return frame
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> TunnelFrame? {
        try decode(buffer: &buffer)
    }

    /// The largest payload a frame of `kind` may declare.
    static func limit(for kind: TunnelFrame.Kind, frameLimit: Int) -> Int {
        switch kind {
        case .hello: TunnelProtocol.maximumHelloSize
        case .goAway, .reset: 4 + TunnelProtocol.maximumReasonSize
        case .open: 4 + 2 + 1 + 255
        case .windowUpdate: 4
        case .halfClose: 0
        case .ping, .pong: 8
        case .chunkRequest: 2 + TunnelProtocol.maximumFingerprintsPerFrame * Fingerprint.byteCount
        case .data, .chunkReply: frameLimit
        }
    }

    private static func parse(
        _ kind: TunnelFrame.Kind, stream: UInt32, payload: inout ByteBuffer
    ) throws(TunnelError) -> TunnelFrame {
        func short(_ what: String) -> TunnelError {
            TunnelError(.protocolViolation, "\(kind) frame is too short for its \(what)")
        }
        switch kind {
        case .hello:
            guard payload.readableBytes >= TunnelProtocol.minimumHelloSize,
                let magic = payload.readBytes(length: 4), magic == TunnelProtocol.magic
            else {
                throw TunnelError(.handshakeFailed, "the hello does not start with RPLT or is too short")
            }
            let version = payload.readInteger(as: UInt16.self) ?? 0
            let capabilities = TunnelCapabilities(rawValue: payload.readInteger(as: UInt32.self) ?? 0)
            let storeID = StoreID(bytes: payload.readBytes(length: 16) ?? []) ?? .none
            let frameLimit = payload.readInteger(as: UInt32.self) ?? 0
            let receiveBudget = payload.readInteger(as: UInt32.self) ?? 0
            let keyCheck = payload.readInteger(as: UInt32.self) ?? 0  // absent in version 1
            payload.moveReaderIndex(to: payload.writerIndex)  // later versions may append fields
            return .hello(
                TunnelHello(
                    version: version, capabilities: capabilities, storeID: storeID, frameLimit: frameLimit,
                    receiveBudget: receiveBudget, fingerprintKeyCheck: keyCheck))
        case .goAway:
            guard let code = payload.readInteger(as: UInt32.self) else { throw short("code") }
            return .goAway(code: TunnelError.Code(wireValue: code), reason: readReason(&payload))
        case .open:
            guard let window = payload.readInteger(as: UInt32.self), let port = payload.readInteger(as: UInt16.self),
                let hostLength = payload.readInteger(as: UInt8.self), let host = payload.readBytes(length: Int(hostLength))
            else { throw short("target") }
            guard port != 0, hostLength > 0, let name = String(validating: host, as: UTF8.self) else {
                throw TunnelError(.protocolViolation, "OPEN on stream \(stream) names an invalid target")
            }
            return .open(stream: stream, target: TunnelTarget(host: name, port: Int(port)), window: window)
        case .data:
            guard let decodedLength = payload.readInteger(as: UInt32.self),
                let checksum = payload.readInteger(as: UInt64.self), let count = payload.readInteger(as: UInt16.self)
            else { throw short("header") }
            guard Int(count) <= TunnelProtocol.maximumFingerprintsPerFrame else {
                throw TunnelError(.frameTooLarge, "DATA frame lists \(count) references")
            }
            let references = try readFingerprints(Int(count), from: &payload, kind: kind)
            let encoded = payload.readSlice(length: payload.readableBytes) ?? ByteBuffer()
            return .data(
                stream: stream,
                TunnelData(decodedLength: decodedLength, checksum: checksum, references: references, encoded: encoded))
        case .windowUpdate:
            guard let increment = payload.readInteger(as: UInt32.self) else { throw short("increment") }
            guard increment > 0 else {
                throw TunnelError(.protocolViolation, "WINDOW_UPDATE of 0 on stream \(stream)")
            }
            return .windowUpdate(stream: stream, increment: increment)
        case .halfClose:
            return .halfClose(stream: stream)
        case .reset:
            guard let code = payload.readInteger(as: UInt32.self) else { throw short("code") }
            return .reset(stream: stream, code: TunnelError.Code(wireValue: code), reason: readReason(&payload))
        case .ping, .pong:
            guard let value = payload.readInteger(as: UInt64.self) else { throw short("value") }
            return kind == .ping ? .ping(value) : .pong(value)
        case .chunkRequest:
            guard let count = payload.readInteger(as: UInt16.self), count > 0,
                Int(count) <= TunnelProtocol.maximumFingerprintsPerFrame
            else { throw TunnelError(.protocolViolation, "CHUNK_REQUEST must name 1...4096 fingerprints") }
            return .chunkRequest(try readFingerprints(Int(count), from: &payload, kind: kind))
        case .chunkReply:
            guard let raw = payload.readBytes(length: Fingerprint.byteCount),
                let fingerprint = Fingerprint(canonical: raw), let status = payload.readInteger(as: UInt8.self)
            else { throw short("fingerprint") }
            switch status {
            case 0:
                guard payload.readableBytes > 0 else {
                    throw TunnelError(.protocolViolation, "CHUNK_REPLY for \(fingerprint) is empty")
                }
                return .chunkReply(fingerprint, payload.readBytes(length: payload.readableBytes))
            case 1:
                return .chunkReply(fingerprint, nil)
            default:
                throw TunnelError(.protocolViolation, "CHUNK_REPLY status \(status)")
            }
        }
    }

    /// The peer's reason as text: invalid UTF-8 is repaired (each bad byte becomes U+FFFD, three bytes), and the
    /// repaired text is cut back to ``TunnelProtocol/maximumReasonSize`` bytes, so a decoded reason always
    /// re-encodes to itself (FuzzTunnelFrame found 1,024 bad bytes growing to 3,072).
    private static func readReason(_ payload: inout ByteBuffer) -> String {
        let bytes = payload.readBytes(length: payload.readableBytes) ?? []
        return TunnelProtocol.boundedReason(String(decoding: bytes, as: UTF8.self))
    }

    private static func readFingerprints(
        _ count: Int, from payload: inout ByteBuffer, kind: TunnelFrame.Kind
    ) throws(TunnelError) -> [Fingerprint] {
        guard payload.readableBytes >= count * Fingerprint.byteCount else {
            throw TunnelError(.protocolViolation, "\(kind) frame is too short for its \(count) fingerprints")
        }
        var fingerprints: [Fingerprint] = []
        fingerprints.reserveCapacity(count)
        for _ in 0..<count {
            let high = payload.readInteger(as: UInt64.self) ?? 0
            let low = payload.readInteger(as: UInt64.self) ?? 0
            fingerprints.append(Fingerprint(high: high, low: low))
        }
        return fingerprints
    }
}

/// Serialises peer-protocol frames.
public struct TunnelFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = TunnelFrame

    /// Creates an encoder.
    public init() {}

    public func encode(data frame: TunnelFrame, out: inout ByteBuffer) {
        out.writeTunnelFrame(frame)
    }
}

/// Writes peer-protocol frames to the channel as ``TunnelFrameEncoder`` serialises them, without copying a DATA
/// frame's encoded payload: the frame header and DATA's fixed fields go out in one small buffer and the payload
/// follows as the buffer the encoder produced (a writev on a plain socket; TLS encrypts from it directly). The
/// bytes on the wire are the same; a bulk flow saves one copy of everything it sends.
final class TunnelFrameWriter: ChannelOutboundHandler {
    typealias OutboundIn = TunnelFrame
    typealias OutboundOut = ByteBuffer

    /// The smallest DATA payload written as a buffer of its own.
    static let separateFrom = 16 << 10

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        // A small payload is copied into one buffer with its header (one TLS record, as before); only a large one
        // is worth a second buffer.
        guard case .data(let stream, var payload) = frame, payload.encoded.readableBytes >= Self.separateFrom else {
            var buffer = context.channel.allocator.buffer(capacity: 64 + frame.payloadBytes)
            buffer.writeTunnelFrame(frame)
            context.write(wrapOutboundOut(buffer), promise: promise)
            return
        }
        let encoded = payload.encoded
        payload.encoded = ByteBuffer()
        var head = context.channel.allocator.buffer(
            capacity: TunnelProtocol.frameHeaderSize + 14 + 16 * payload.references.count)
        head.writeTunnelFrame(.data(stream: stream, payload))
        // The length field (after type, flags and stream) counts the payload written separately.
        let lengthIndex = head.readerIndex + 6
        let fixed = head.getInteger(at: lengthIndex, as: UInt32.self) ?? 0
        head.setInteger(fixed + UInt32(encoded.readableBytes), at: lengthIndex)
        context.write(wrapOutboundOut(head), promise: nil)
        context.write(wrapOutboundOut(encoded), promise: promise)
    }
}

extension TunnelFrame {
    /// The bytes of a DATA or CHUNK_REPLY payload's variable part (0 for other frames): a capacity hint.
    fileprivate var payloadBytes: Int {
        switch self {
        case .data(_, let data): data.encoded.readableBytes + 16 * data.references.count
        case .chunkReply(_, let bytes): bytes?.count ?? 0
        default: 0
        }
    }
}

extension ByteBuffer {
    /// Appends one frame in its wire form and returns the number of bytes written.
    ///
    /// - Precondition: the frame's fields are within the protocol's limits (a reason longer than 1,024 bytes
    ///   is cut short at a character boundary; a host name is at most 255 bytes, as
    ///   ``TunnelTarget/init(parsing:)`` ensures).
    @discardableResult
    public mutating func writeTunnelFrame(_ frame: TunnelFrame) -> Int {
        let start = writerIndex
        writeInteger(frame.kind.rawValue)
        if case .data(_, let data) = frame, data.isPlain {
            writeInteger(TunnelFrameDecoder.plainFlag)
        } else {
            writeInteger(UInt8(0))
        }
        writeInteger(frame.stream)
        let lengthIndex = writerIndex
        writeInteger(UInt32(0))
        let payloadStart = writerIndex
        switch frame {
        case .hello(let hello):
            writeBytes(TunnelProtocol.magic)
            writeInteger(hello.version)
            writeInteger(hello.capabilities.rawValue)
            writeBytes(hello.storeID.bytes)
            writeInteger(hello.frameLimit)
            writeInteger(hello.receiveBudget)
            writeInteger(hello.fingerprintKeyCheck)
        case .goAway(let code, let reason), .reset(_, let code, let reason):
            writeInteger(code.wireValue)
            writeBytes(TunnelProtocol.boundedReason(reason).utf8)
        case .open(_, let target, let window):
            let host = Array(target.host.utf8.prefix(255))
            writeInteger(window)
            writeInteger(UInt16(clamping: target.port))
            writeInteger(UInt8(host.count))
            writeBytes(host)
        case .data(_, let data):
            writeInteger(data.decodedLength)
            writeInteger(data.checksum)
            writeInteger(UInt16(data.references.count))
            for fingerprint in data.references {
                writeInteger(fingerprint.high)
                writeInteger(fingerprint.low)
            }
            writeImmutableBuffer(data.encoded)
        case .windowUpdate(_, let increment):
            writeInteger(increment)
        case .halfClose:
            break
        case .ping(let value), .pong(let value):
            writeInteger(value)
        case .chunkRequest(let fingerprints):
            writeInteger(UInt16(fingerprints.count))
            for fingerprint in fingerprints {
                writeInteger(fingerprint.high)
                writeInteger(fingerprint.low)
            }
        case .chunkReply(let fingerprint, let bytes):
            writeInteger(fingerprint.high)
            writeInteger(fingerprint.low)
            writeInteger(UInt8(bytes == nil ? 1 : 0))
            if let bytes { writeBytes(bytes) }
        }
        setInteger(UInt32(writerIndex - payloadStart), at: lengthIndex)
        return writerIndex - start
    }
}
