// Values of the Jinja engine. Chat templates are written for Python's jinja2, so every
// value behaves as the Python object it stands for: truthiness, `str()`, `repr()`, `==`,
// ordering and hashing follow Python, and strings are sequences of Unicode code points
// (never Swift Characters: "\r\n" is two items, "é" and "e\u{301}" differ).

/// A value inside a template: what Python's jinja2 would hold.
public indirect enum JinjaValue {
    /// jinja2's default `Undefined`: prints as "", is false, iterates as empty; using it
    /// any other way raises `UndefinedError` with the message it carries.
    case undefined(JinjaUndefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// markupsafe's `Markup` (from `safe`, `escape`): a str that HTML-escapes plain strings
    /// concatenated to it with `+`. Everywhere else it behaves as its text.
    case markup(String)
    case list([JinjaValue])
    case tuple([JinjaValue])
    /// A dict keeps insertion order, as Python's does (tojson output depends on it).
    case dict(JinjaDict)
    /// A lazy Python iterable that is not a list (a generator from `map`/`select`, a
    /// `dict_items` view, …): iterable, but it has no length and does not serialize.
    case iterator(kind: String, [JinjaValue])
    case namespace(JinjaNamespace)
    case function(JinjaFunction)

    static func undefinedName(_ name: String) -> JinjaValue {
        .undefined(JinjaUndefined(message: "'\(name)' is undefined"))
    }

    /// dict views have a length and a truth value; generators and iterators do not.
    static func isView(_ kind: String) -> Bool { kind == "dict_items" || kind == "dict_keys" || kind == "dict_values" }

    /// A Markup as the plain str it also is; every other value unchanged.
    var plain: JinjaValue { if case let .markup(s) = self { return .string(s) } else { return self } }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
    var isNone: Bool { if case .none = self { return true } else { return false } }
    var stringValue: String? { if case let .string(s) = plain { return s } else { return nil } }
}

/// Why a value is undefined, in jinja2's words ("'x' is undefined",
/// "'dict object' has no attribute 'y'").
public struct JinjaUndefined {
    public let message: String
}

/// A Python dict: insertion-ordered, keyed by Python equality (1, 1.0 and True are one key).
public struct JinjaDict {
    /// The keys, in insertion order.
    public private(set) var keys: [JinjaValue] = []
    /// The values, in the order of `keys`.
    public private(set) var values: [JinjaValue] = []
    private var index: [HashKey: Int] = [:]

    /// An empty dict.
    public init() {}

    /// The number of entries.
    public var count: Int { keys.count }

    /// The value for a key (Python equality: 1, 1.0 and True are one key); setting nil removes it.
    public subscript(key: JinjaValue) -> JinjaValue? {
        get { index[HashKey(key)].map { values[$0] } }
        set {
            let h = HashKey(key)
            if let i = index[h] {
                if let v = newValue { values[i] = v } else { remove(at: i) }
            } else if let v = newValue {
                index[h] = keys.count
                keys.append(key)
                values.append(v)
            }
        }
    }

    /// The value for a string key.
    public subscript(name: String) -> JinjaValue? {
        get { self[.string(name)] }
        set { self[.string(name)] = newValue }
    }

    private mutating func remove(at i: Int) {
        keys.remove(at: i)
        values.remove(at: i)
        index = [:]
        for (j, k) in keys.enumerated() { index[HashKey(k)] = j }
    }

    var pairs: [(JinjaValue, JinjaValue)] { Array(zip(keys, values)) }

    /// Python hashing equivalence: numbers by value, strings by code points.
    enum HashKey: Hashable {
        case none, int(Int), double(Double), string([UInt8]), tuple([HashKey]), other(Int)
        init(_ v: JinjaValue) {
            switch v.plain {
            case .none, .undefined: self = .none
            case let .bool(b): self = .int(b ? 1 : 0)
            case let .int(i): self = .int(i)
            case let .double(d):
                if d == d.rounded(), abs(d) < 9e18 { self = .int(Int(d)) } else { self = .double(d) }
            case let .string(s): self = .string(Array(s.utf8))
            case let .tuple(a), let .list(a): self = .tuple(a.map(HashKey.init))
            case let .namespace(n): self = .other(ObjectIdentifier(n).hashValue)
            case let .function(f): self = .other(ObjectIdentifier(f).hashValue)
            case .dict, .iterator, .markup: self = .other(0)
            }
        }
    }
}

/// jinja2's `namespace()`: the one object templates may assign attributes on.
public final class JinjaNamespace {
    var attributes: JinjaDict
    init(_ attributes: JinjaDict) { self.attributes = attributes }
}

/// Positional and keyword arguments of a call.
struct JinjaArguments {
    var positional: [JinjaValue] = []
    var keywords: [(String, JinjaValue)] = []

    /// Python's binding of a parameter list: the i-th positional argument or the keyword.
    func value(_ i: Int, _ name: String) -> JinjaValue? {
        if let kw = keywords.first(where: { $0.0 == name }) { return kw.1 }
        return i >= 0 && i < positional.count ? positional[i] : nil
    }
}

/// A callable value: a macro, a global such as `range`, or a bound method like `"a".upper`.
public final class JinjaFunction {
    let name: String
    /// Python's type name for messages ("function", "builtin_function_or_method", "Macro").
    let typeName: String
    let call: (JinjaArguments) throws -> JinjaValue
    init(name: String, typeName: String = "builtin_function_or_method", _ call: @escaping (JinjaArguments) throws -> JinjaValue) {
        self.name = name
        self.typeName = typeName
        self.call = call
    }
}

// MARK: - Python semantics

extension JinjaValue {
    /// Python's type name, as error messages spell it.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case let .iterator(kind, _): return kind
        case .namespace: return "Namespace"
        case let .function(f): return f.typeName
        }
    }

    /// jinja2's `object_type_repr`: "dict object", or "None".
    var objectTypeRepr: String {
        if case .none = self { return "None" }
        return "\(typeName) object"
    }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case let .bool(b): return b
        case let .int(i): return i != 0
        case let .double(d): return d != 0
        case let .string(s), let .markup(s): return !s.isEmpty
        case let .list(a), let .tuple(a): return !a.isEmpty
        case let .dict(d): return d.count > 0
        case let .iterator(kind, items): return JinjaValue.isView(kind) ? !items.isEmpty : true
        case .namespace, .function: return true
        }
    }

    /// Python's `str()`.
    var pythonString: String {
        switch self {
        case .undefined: return ""
        case let .string(s), let .markup(s): return s
        default: return pythonRepr
        }
    }

    /// Python's `repr()`.
    var pythonRepr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .double(d): return pythonFloatRepr(d)
        case let .string(s): return pythonStringRepr(s)
        case let .markup(s): return "Markup(" + pythonStringRepr(s) + ")"
        case let .list(a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case let .tuple(a): return a.count == 1 ? "(\(a[0].pythonRepr),)" : "(" + a.map(\.pythonRepr).joined(separator: ", ") + ")"
        case let .dict(d): return "{" + d.pairs.map { "\($0.0.pythonRepr): \($0.1.pythonRepr)" }.joined(separator: ", ") + "}"
        case let .iterator(kind, items):
            switch kind {
            case "dict_items", "dict_keys", "dict_values": return "\(kind)([" + items.map(\.pythonRepr).joined(separator: ", ") + "])"
            default: return "<\(kind) object>"
            }
        case let .namespace(n): return "<Namespace " + JinjaValue.dict(n.attributes).pythonRepr + ">"
        case let .function(f): return f.typeName == "Macro" ? "<Macro '\(f.name)'>" : "<built-in method \(f.name)>"
        }
    }

    /// The items `for` walks, or nil when Python would raise "not iterable".
    var iterationItems: [JinjaValue]? {
        switch plain {
        case .undefined: return []
        case let .list(a), let .tuple(a), let .iterator(_, a): return a
        case let .dict(d): return d.keys
        case let .string(s): return s.unicodeScalars.map { .string(String($0)) }
        default: return nil
        }
    }
}

/// Python's `repr(float)`: the shortest round-tripping digits, exponent outside [1e-4, 1e16).
func pythonFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    // Swift's description uses the same shortest-digits rule and the same switch to exponent
    // form; it differs from Python only in spelling the exponent.
    var s = d.description
    if let e = s.firstIndex(of: "e") {
        var mantissa = String(s[..<e])
        var exp = String(s[s.index(after: e)...])
        if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
        var sign = "+"
        if exp.hasPrefix("-") { sign = "-"; exp.removeFirst() } else if exp.hasPrefix("+") { exp.removeFirst() }
        if exp.count < 2 { exp = "0" + exp }
        s = mantissa + "e" + sign + exp
    }
    return s
}

/// Python's `repr(str)`: single quotes unless the text has one and no double quote.
func pythonStringRepr(_ s: String) -> String {
    let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for u in s.unicodeScalars {
        switch u {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(u) == quote { out += "\\" + String(u) }
            else if u.value < 0x20 || u.value == 0x7f { out += "\\x" + hex(u.value, 2) }
            else if u.value >= 0x80 && !isPrintable(u) {
                out += u.value <= 0xff ? "\\x" + hex(u.value, 2) : u.value <= 0xffff ? "\\u" + hex(u.value, 4) : "\\U" + hex(u.value, 8)
            } else { out.unicodeScalars.append(u) }
        }
    }
    out.append(quote)
    return out
}

private func hex(_ v: UInt32, _ width: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

/// Python's `str.isprintable` for one code point: not a control, format, separator
/// (other than the ASCII space), surrogate, private-use or unassigned character.
private func isPrintable(_ u: Unicode.Scalar) -> Bool {
    switch u.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: return false
    case .spaceSeparator: return u == " "
    default: return true
    }
}

// MARK: - Equality and ordering

extension JinjaValue {
    /// Python `==`.
    func pyEquals(_ other: JinjaValue) -> Bool {
        switch (plain, other.plain) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(a), .string(b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pyEquals($1) }
        case let (.dict(a), .dict(b)):
            guard a.count == b.count else { return false }
            for (k, v) in a.pairs { guard let w = b[k], v.pyEquals(w) else { return false } }
            return true
        case let (.namespace(a), .namespace(b)): return a === b
        case let (.function(a), .function(b)): return a === b
        default:
            if let x = numeric, let y = other.numeric { return x == y }
            return false
        }
    }

    /// Numbers (and bools, which are ints in Python) as a comparable pair.
    var numeric: Double? {
        switch self {
        case let .bool(b): return b ? 1 : 0
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    /// Python `<`; throws TypeError for types Python cannot order.
    func pyLess(_ other: JinjaValue) throws -> Bool {
        switch (plain, other.plain) {
        case let (.int(a), .int(b)): return a < b
        case let (.string(a), .string(b)): return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            for (x, y) in zip(a, b) where !x.pyEquals(y) { return try x.pyLess(y) }
            return a.count < b.count
        default:
            if let x = numeric, let y = other.numeric { return x < y }
            if case let .undefined(u) = self { throw JinjaRuntimeFailure(.undefined, u.message) }
            if case let .undefined(u) = other { throw JinjaRuntimeFailure(.undefined, u.message) }
            throw JinjaRuntimeFailure(.type, "'<' not supported between instances of '\(typeName)' and '\(other.typeName)'")
        }
    }
}

extension JinjaValue {
    /// markupsafe's `escape()`: Markup stays as it is, anything else becomes its `str()`
    /// with `& < > " '` escaped.
    var escapedMarkup: JinjaValue {
        if case .markup = self { return self }
        var out = ""
        for u in pythonString.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(u)
            }
        }
        return .markup(out)
    }
}
