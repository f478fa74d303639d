internal import CRabbitMQ
import Foundation

/// A bump allocator for the C data (strings, tables, properties) that one rabbitmq-c call reads.
///
/// rabbitmq-c takes `amqp_bytes_t` views and encodes them during the call, so the memory only has to
/// live until the call returns; ``reset()`` then reuses it. Not thread-safe: each connection thread
/// owns its own arena.
final class CArena {
    private var chunks: [(pointer: UnsafeMutableRawPointer, size: Int)] = []
    private var used = 0
    private static let chunkSize = 16 * 1024

    init() {}

    deinit {
        for chunk in chunks { chunk.pointer.deallocate() }
    }

    /// Forgets everything allocated so far; keeps the first chunk for reuse.
    func reset() {
        if chunks.count > 1 {
            for chunk in chunks.dropFirst() { chunk.pointer.deallocate() }
            chunks.removeSubrange(1...)
        }
        used = 0
    }

    func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
        let aligned = (used + alignment - 1) & ~(alignment - 1)
        if let last = chunks.last, aligned + byteCount <= last.size {
            used = aligned + byteCount
            return last.pointer + aligned
        }
        let size = max(Self.chunkSize, byteCount)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        chunks.append((pointer, size))
        used = byteCount
        return pointer
    }

    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocate(byteCount: MemoryLayout<T>.stride * max(count, 1), alignment: MemoryLayout<T>.alignment)
            .bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Copies the UTF-8 bytes of `string`.
    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    /// Copies `buffer`.
    func bytes(_ buffer: UnsafeRawBufferPointer) -> amqp_bytes_t {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let pointer = allocate(byteCount: buffer.count, alignment: 1)
        pointer.copyMemory(from: base, byteCount: buffer.count)
        return amqp_bytes_t(len: buffer.count, bytes: pointer)
    }

    /// Builds an `amqp_table_t` whose memory lives in this arena. Keys are sorted, so the wire form is
    /// deterministic.
    func table(_ dictionary: [String: AMQPFieldValue]) -> amqp_table_t {
        guard !dictionary.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(amqp_table_entry_t.self, count: dictionary.count)
        for (index, key) in dictionary.keys.sorted().enumerated() {
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: fieldValue(dictionary[key]!)))
        }
        return amqp_table_t(num_entries: Int32(dictionary.count), entries: entries)
    }

    func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let text):
            field.kind = FieldKind.utf8
            field.value.bytes = bytes(text)
        case .bytes(let data):
            field.kind = FieldKind.bytes
            field.value.bytes = data.withUnsafeBytes { bytes($0) }
        case .bool(let flag):
            field.kind = FieldKind.boolean
            field.value.boolean = flag ? 1 : 0
        case .int(let number):
            field.kind = FieldKind.i64
            field.value.i64 = number
        case .double(let number):
            field.kind = FieldKind.f64
            field.value.f64 = number
        case .decimal(let scale, let number):
            field.kind = FieldKind.decimal
            field.value.decimal = amqp_decimal_t(decimals: scale, value: number)
        case .timestamp(let date):
            field.kind = FieldKind.timestamp
            field.value.u64 = UInt64(max(0, date.timeIntervalSince1970.rounded(.down)))
        case .table(let nested):
            field.kind = FieldKind.table
            field.value.table = table(nested)
        case .array(let elements):
            field.kind = FieldKind.array
            let values = allocate(amqp_field_value_t.self, count: elements.count)
            for (index, element) in elements.enumerated() { (values + index).initialize(to: fieldValue(element)) }
            field.value.array = amqp_array_t(num_entries: Int32(elements.count), entries: elements.isEmpty ? nil : values)
        case .void:
            field.kind = FieldKind.void
        }
        return field
    }

    /// Fills `amqp_basic_properties_t` for `message`; strings and headers live in this arena.
    func properties(for message: AMQPMessage) -> amqp_basic_properties_t {
        var properties = amqp_basic_properties_t()
        var flags = UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        properties.delivery_mode = message.persistent ? 2 : 1
        if let value = message.contentType {
            flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
            properties.content_type = bytes(value)
        }
        if let value = message.contentEncoding {
            flags |= UInt32(AMQP_BASIC_CONTENT_ENCODING_FLAG)
            properties.content_encoding = bytes(value)
        }
        if !message.headers.isEmpty {
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
            properties.headers = table(message.headers)
        }
        if let value = message.priority {
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
            properties.priority = value
        }
        if let value = message.correlationID {
            flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
            properties.correlation_id = bytes(value)
        }
        if let value = message.replyTo {
            flags |= UInt32(AMQP_BASIC_REPLY_TO_FLAG)
            properties.reply_to = bytes(value)
        }
        if let value = message.expiration {
            flags |= UInt32(AMQP_BASIC_EXPIRATION_FLAG)
            properties.expiration = bytes(String(value.milliseconds))
        }
        if let value = message.messageID {
            flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
            properties.message_id = bytes(value)
        }
        if let value = message.timestamp {
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
            properties.timestamp = UInt64(max(0, value.timeIntervalSince1970.rounded(.down)))
        }
        if let value = message.type {
            flags |= UInt32(AMQP_BASIC_TYPE_FLAG)
            properties.type = bytes(value)
        }
        if let value = message.userID {
            flags |= UInt32(AMQP_BASIC_USER_ID_FLAG)
            properties.user_id = bytes(value)
        }
        if let value = message.appID {
            flags |= UInt32(AMQP_BASIC_APP_ID_FLAG)
            properties.app_id = bytes(value)
        }
        properties._flags = flags
        return properties
    }
}

/// `amqp_field_value_t.kind` values.
enum FieldKind {
    static let boolean = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
    static let i8 = UInt8(AMQP_FIELD_KIND_I8.rawValue)
    static let u8 = UInt8(AMQP_FIELD_KIND_U8.rawValue)
    static let i16 = UInt8(AMQP_FIELD_KIND_I16.rawValue)
    static let u16 = UInt8(AMQP_FIELD_KIND_U16.rawValue)
    static let i32 = UInt8(AMQP_FIELD_KIND_I32.rawValue)
    static let u32 = UInt8(AMQP_FIELD_KIND_U32.rawValue)
    static let i64 = UInt8(AMQP_FIELD_KIND_I64.rawValue)
    static let u64 = UInt8(AMQP_FIELD_KIND_U64.rawValue)
    static let f32 = UInt8(AMQP_FIELD_KIND_F32.rawValue)
    static let f64 = UInt8(AMQP_FIELD_KIND_F64.rawValue)
    static let decimal = UInt8(AMQP_FIELD_KIND_DECIMAL.rawValue)
    static let utf8 = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
    static let array = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
    static let timestamp = UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue)
    static let table = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
    static let void = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
    static let bytes = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
}

/// Converts decoded C values (owned by rabbitmq-c) into Swift values.
enum AMQPDecoder {
    static func table(_ table: amqp_table_t) -> [String: AMQPFieldValue] {
        guard table.num_entries > 0, let entries = table.entries else { return [:] }
        var result: [String: AMQPFieldValue] = [:]
        result.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[String(amqpBytes: entry.key)] = fieldValue(entry.value)
        }
        return result
    }

    static func fieldValue(_ field: amqp_field_value_t) -> AMQPFieldValue {
        switch field.kind {
        case FieldKind.boolean: return .bool(field.value.boolean != 0)
        case FieldKind.i8: return .int(Int64(field.value.i8))
        case FieldKind.u8: return .int(Int64(field.value.u8))
        case FieldKind.i16: return .int(Int64(field.value.i16))
        case FieldKind.u16: return .int(Int64(field.value.u16))
        case FieldKind.i32: return .int(Int64(field.value.i32))
        case FieldKind.u32: return .int(Int64(field.value.u32))
        case FieldKind.i64: return .int(field.value.i64)
        case FieldKind.u64: return .int(Int64(truncatingIfNeeded: field.value.u64))
        case FieldKind.f32: return .double(Double(field.value.f32))
        case FieldKind.f64: return .double(field.value.f64)
        case FieldKind.decimal: return .decimal(scale: field.value.decimal.decimals, value: field.value.decimal.value)
        case FieldKind.utf8: return .string(String(amqpBytes: field.value.bytes))
        case FieldKind.bytes: return .bytes(bytes(field.value.bytes))
        case FieldKind.timestamp: return .timestamp(Date(timeIntervalSince1970: TimeInterval(field.value.u64)))
        case FieldKind.table: return .table(table(field.value.table))
        case FieldKind.array:
            let array = field.value.array
            guard array.num_entries > 0, let entries = array.entries else { return .array([]) }
            return .array((0..<Int(array.num_entries)).map { fieldValue(entries[$0]) })
        default: return .void
        }
    }

    static func bytes(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard let pointer = bytes.bytes, bytes.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }

    /// Builds an ``AMQPMessage`` from decoded properties and a body (both owned by rabbitmq-c).
    static func message(properties: amqp_basic_properties_t, body: amqp_bytes_t) -> AMQPMessage {
        let flags = properties._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        func text(_ flag: Int32, _ value: amqp_bytes_t) -> String? { has(flag) ? String(amqpBytes: value) : nil }
        var message = AMQPMessage(body: bytes(body))
        message.persistent = has(AMQP_BASIC_DELIVERY_MODE_FLAG) && properties.delivery_mode == 2
        message.contentType = text(AMQP_BASIC_CONTENT_TYPE_FLAG, properties.content_type)
        message.contentEncoding = text(AMQP_BASIC_CONTENT_ENCODING_FLAG, properties.content_encoding)
        if has(AMQP_BASIC_HEADERS_FLAG) { message.headers = table(properties.headers) }
        if has(AMQP_BASIC_PRIORITY_FLAG) { message.priority = properties.priority }
        message.correlationID = text(AMQP_BASIC_CORRELATION_ID_FLAG, properties.correlation_id)
        message.replyTo = text(AMQP_BASIC_REPLY_TO_FLAG, properties.reply_to)
        if let expiration = text(AMQP_BASIC_EXPIRATION_FLAG, properties.expiration), let ms = Int64(expiration) {
            message.expiration = .milliseconds(ms)
        }
        message.messageID = text(AMQP_BASIC_MESSAGE_ID_FLAG, properties.message_id)
        if has(AMQP_BASIC_TIMESTAMP_FLAG) {
            message.timestamp = Date(timeIntervalSince1970: TimeInterval(properties.timestamp))
        }
        message.type = text(AMQP_BASIC_TYPE_FLAG, properties.type)
        message.userID = text(AMQP_BASIC_USER_ID_FLAG, properties.user_id)
        message.appID = text(AMQP_BASIC_APP_ID_FLAG, properties.app_id)
        return message
    }
}

/// The AMQP wire form of field tables, through rabbitmq-c's own encoder and decoder. Used by tests to
/// check the encoding without a broker.
enum AMQPFieldTableWire {
    /// Encodes `table` as rabbitmq-c would put it on the wire (4-byte length, then the entries).
    static func encode(_ table: [String: AMQPFieldValue]) throws -> [UInt8] {
        let arena = CArena()
        var cTable = arena.table(table)
        var capacity = 4096
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            var offset = 0
            let status = buffer.withUnsafeMutableBytes { raw in
                amqp_encode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &cTable, &offset)
            }
            if status == AMQP_STATUS_OK.rawValue { return Array(buffer[..<offset]) }
            guard status == AMQP_STATUS_TABLE_TOO_BIG.rawValue, capacity < 1 << 24 else {
                throw AMQPError(libraryStatus: status, call: "amqp_encode_table", host: nil)
            }
            capacity *= 4
        }
    }

    /// Decodes a wire-form table (4-byte length, then the entries).
    static func decode(_ bytes: [UInt8]) throws -> [String: AMQPFieldValue] {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        var bytes = bytes
        var table = amqp_table_t()
        var offset = 0
        let status = bytes.withUnsafeMutableBytes { raw in
            amqp_decode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &pool, &table, &offset)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(libraryStatus: status, call: "amqp_decode_table", host: nil)
        }
        return AMQPDecoder.table(table)
    }
}
