/// Finds the byte ranges of the elements of a top-level JSON array, so each event of a batch can be
/// stored as it was sent. Only used on bodies the decoder has already accepted as an array.
enum JSONArraySlicer {
    /// The elements' bytes (without surrounding whitespace), or nil when `bytes` is not an array.
    static func elements(of bytes: [UInt8]) -> [ArraySlice<UInt8>]? {
        var index = skipWhitespace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var elements: [ArraySlice<UInt8>] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start = skipWhitespace(bytes, index)
        if start < bytes.count, bytes[start] == UInt8(ascii: "]") { return [] }
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"):
                    guard depth > 0 else { return nil }
                    depth -= 1
                case UInt8(ascii: "]"):
                    if depth > 0 {
                        depth -= 1
                    } else {
                        elements.append(trimmed(bytes, start, index))
                        return elements
                    }
                case UInt8(ascii: ","):
                    if depth == 0 {
                        elements.append(trimmed(bytes, start, index))
                        start = skipWhitespace(bytes, index + 1)
                    }
                default: break
                }
            }
            index += 1
        }
        return nil
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d
    }

    private static func skipWhitespace(_ bytes: [UInt8], _ from: Int) -> Int {
        var index = from
        while index < bytes.count, isWhitespace(bytes[index]) { index += 1 }
        return index
    }

    private static func trimmed(_ bytes: [UInt8], _ start: Int, _ end: Int) -> ArraySlice<UInt8> {
        var end = end
        while end > start, isWhitespace(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }
}
