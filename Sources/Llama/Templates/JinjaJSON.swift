// JSON in and out of template values. Reading keeps object key order (Python's json does,
// and a template's `tojson` of the tools shows it); writing is Python's `json.dumps`, which
// HF transformers installs as the `tojson` filter.

/// A JSON text that could not be parsed.
public struct JSONSyntaxError: Error, CustomStringConvertible {
    public let offset: Int
    public let expected: String
    public var description: String { "invalid JSON at byte \(offset): expected \(expected)" }
}

extension JinjaValue {
    /// Parses JSON into template values: objects become ordered dicts, integers `int`,
    /// other numbers `float`, `null` None.
    public static func parseJSON(_ text: String) throws -> JinjaValue {
        var p = JSONReader(bytes: Array(text.utf8))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw JSONSyntaxError(offset: p.i, expected: "end of input") }
        return v
    }
}

private struct JSONReader {
    let bytes: [UInt8]
    var i = 0

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[i]) { i += 1 }
    }

    func fail(_ expected: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, expected: expected) }

    mutating func value(depth: Int) throws -> JinjaValue {
        guard depth < 512 else { throw fail("less nesting (deeper than 512)") }
        guard i < bytes.count else { throw fail("a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var d = JinjaDict()
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("a string key") }
                let k = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("':'") }
                i += 1
                skipSpace()
                d[.string(k)] = try value(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("',' or '}'") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
                throw fail("',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JinjaValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .list(a) }
            while true {
                skipSpace()
                a.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("',' or ']'") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .list(a) }
                throw fail("',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .none
        default: return try number()
        }
    }

    mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { throw fail("'\(word)'") }
        i += w.count
    }

    mutating func number() throws -> JinjaValue {
        let start = i
        var isFloat = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let digitsStart = i
        while i < bytes.count {
            let c = bytes[i]
            if c >= 0x30 && c <= 0x39 { i += 1 }
            else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || ((c == UInt8(ascii: "+") || c == UInt8(ascii: "-")) && isFloat) { isFloat = true; i += 1 }
            else { break }
        }
        guard i > digitsStart else { throw fail("a value") }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if !isFloat, let v = Int(text) { return .int(v) }
        guard let d = Double(text) else { throw JSONSyntaxError(offset: start, expected: "a number") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16) else { throw fail("4 hex digits") }
        i += 4
        return v
    }

    mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("closing '\"'") }
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard i < bytes.count else { throw fail("an escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(e)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if v >= 0xd800 && v < 0xdc00, i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let lo = try hex4()
                    v = 0x10000 + ((v - 0xd800) << 10) + (lo &- 0xdc00)
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(v).map(Character.init) ?? "\u{fffd}").utf8))
            default: throw fail("a valid escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Python's `json.dumps` options, as HF transformers' `tojson` filter passes them.
struct JSONDumpOptions {
    var ensureASCII = false
    /// nil: one line; otherwise the text put before each nesting level.
    var indent: String? = nil
    var itemSeparator = ", "
    var keySeparator = ": "
    var sortKeys = false
}

extension JinjaValue {
    /// The value as JSON text, as Python's `json.dumps(value, ensure_ascii=False)` writes it;
    /// throws for values JSON cannot hold (Undefined, generators, namespaces, macros).
    public func jsonText() throws -> String {
        do { return try jsonDumps(JSONDumpOptions()) } catch let f as JinjaRuntimeFailure {
            throw JinjaError.runtime(kind: f.kind.rawValue, message: f.message, line: 0)
        }
    }

    /// Python's `json.dumps(self, ...)`; throws TypeError for values JSON cannot hold.
    func jsonDumps(_ o: JSONDumpOptions) throws -> String {
        var out = ""
        try dump(into: &out, o, level: 0)
        return out
    }

    private func dump(into out: inout String, _ o: JSONDumpOptions, level: Int) throws {
        switch plain {
        case .none: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += jsonFloat(d)
        case let .string(s): out += jsonString(s, ascii: o.ensureASCII)
        case let .list(a), let .tuple(a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (n, v) in a.enumerated() {
                if n > 0 { out += o.itemSeparator }
                if let ind = o.indent { out += "\n" + String(repeating: ind, count: level + 1) }
                try v.dump(into: &out, o, level: level + 1)
            }
            if let ind = o.indent { out += "\n" + String(repeating: ind, count: level) }
            out += "]"
        case let .dict(d):
            if d.count == 0 { out += "{}"; return }
            var pairs: [(String, JinjaValue)] = []
            for (k, v) in d.pairs {
                let key: String
                switch k {
                case let .string(s): key = s
                case .none: key = "null"
                case let .bool(b): key = b ? "true" : "false"
                case let .int(i): key = String(i)
                case let .double(x): key = jsonFloat(x)
                default: throw JinjaRuntimeFailure(.type, "keys must be str, int, float, bool or None, not \(k.typeName)")
                }
                pairs.append((key, v))
            }
            if o.sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
            out += "{"
            for (n, (k, v)) in pairs.enumerated() {
                if n > 0 { out += o.itemSeparator }
                if let ind = o.indent { out += "\n" + String(repeating: ind, count: level + 1) }
                out += jsonString(k, ascii: o.ensureASCII) + o.keySeparator
                try v.dump(into: &out, o, level: level + 1)
            }
            if let ind = o.indent { out += "\n" + String(repeating: ind, count: level) }
            out += "}"
        default:
            throw JinjaRuntimeFailure(.type, "Object of type \(typeName) is not JSON serializable")
        }
    }
}

private func jsonFloat(_ d: Double) -> String {
    if d.isNaN { return "NaN" }
    if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
    return pythonFloatRepr(d)
}

/// A JSON string literal (Python json.dumps' escapes; `ascii` escapes everything past `~`).
func jsonString(_ s: String, ascii: Bool) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        default:
            if u.value < 0x20 || (ascii && u.value > 0x7e) {
                if u.value > 0xffff {
                    let v = u.value - 0x10000
                    out += unicodeEscape(0xd800 + (v >> 10)) + unicodeEscape(0xdc00 + (v & 0x3ff))
                } else { out += unicodeEscape(u.value) }
            } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}

private func unicodeEscape(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return "\\u" + String(repeating: "0", count: 4 - h.count) + h
}
