import Foundation

// What a template can call: the globals HF transformers installs (`raise_exception`,
// `strftime_now`, `namespace`, `dict`) plus jinja2's `range`; the methods of Python's str,
// dict and list that a sandboxed template may use; jinja2's filters and tests.

extension JinjaInterpreter {
    /// The filters and tests there are; jinja2 refuses other names when it compiles.
    static let filterNames: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map",
        "max", "min", "pprint", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr",
        "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]
    static let testNames: Set<String> = [
        "!=", "<", "<=", "==", ">", ">=", "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped",
        "even", "false", "filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan",
        "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true",
        "undefined", "upper",
    ]

    static func globals(now: JinjaDateTime) -> [String: JinjaValue] {
        func fn(_ name: String, _ body: @escaping (JinjaArguments) throws -> JinjaValue) -> JinjaValue {
            .function(JinjaFunction(name: name, typeName: "function", body))
        }
        return [
            "raise_exception": fn("raise_exception") { a in
                throw JinjaRuntimeFailure(.raised, a.value(0, "message")?.pythonString ?? "")
            },
            "strftime_now": fn("strftime_now") { a in
                guard case let .string(f)? = a.value(0, "format") else {
                    throw JinjaRuntimeFailure(.type, "strftime_now() takes a format string")
                }
                return .string(strftime(f, now))
            },
            "namespace": fn("namespace") { a in .namespace(JinjaNamespace(try dictArguments(a, "namespace"))) },
            "dict": fn("dict") { a in .dict(try dictArguments(a, "dict")) },
            "range": fn("range") { a in
                let ints = try a.positional.map { v -> Int in
                    guard let i = v.integer else { throw JinjaRuntimeFailure(.type, "'\(v.typeName)' object cannot be interpreted as an integer") }
                    return i
                }
                let (start, stop, step): (Int, Int, Int)
                switch ints.count {
                case 1: (start, stop, step) = (0, ints[0], 1)
                case 2: (start, stop, step) = (ints[0], ints[1], 1)
                case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
                default: throw JinjaRuntimeFailure(.type, "range expected at most 3 arguments, got \(ints.count)")
                }
                guard step != 0 else { throw JinjaRuntimeFailure(.value, "range() arg 3 must not be zero") }
                let n = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
                guard n <= 100_000 else { throw JinjaRuntimeFailure(.runtime, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).") }
                return .list((0..<n).map { .int(start + $0 * step) })
            },
        ]
    }

    /// `dict(mapping_or_pairs, **kwargs)`, which HF's `namespace()` also takes.
    static func dictArguments(_ a: JinjaArguments, _ name: String) throws -> JinjaDict {
        var d = JinjaDict()
        guard a.positional.count <= 1 else {
            throw JinjaRuntimeFailure(.type, "\(name) expected at most 1 argument, got \(a.positional.count)")
        }
        if let first = a.positional.first {
            switch first {
            case let .dict(m): d = m
            case let .namespace(n): d = n.attributes
            default:
                guard let items = first.iterationItems else {
                    throw JinjaRuntimeFailure(.type, "'\(first.typeName)' object is not iterable")
                }
                for (k, item) in items.enumerated() {
                    guard let pair = item.iterationItems, pair.count == 2 else {
                        throw JinjaRuntimeFailure(.value, "dictionary update sequence element #\(k) has length \(item.iterationItems?.count ?? 0); 2 is required")
                    }
                    d[pair[0]] = pair[1]
                }
            }
        }
        for (k, v) in a.keywords { d[k] = v }
        return d
    }

    // MARK: Methods

    /// A bound method of `obj`, or nil when the type has no attribute of that name.
    func method(_ obj: JinjaValue, _ name: String) throws -> JinjaValue? {
        func bound(_ body: @escaping (JinjaArguments) throws -> JinjaValue) -> JinjaValue {
            .function(JinjaFunction(name: name, body))
        }
        func str(_ a: JinjaArguments, _ i: Int, _ n: String) throws -> String? {
            guard let v = a.value(i, n), !v.isNone else { return nil }
            guard case let .string(s) = v else { throw JinjaRuntimeFailure(.type, "\(name)() argument must be str or None, not \(v.typeName)") }
            return s
        }
        switch obj.plain {
        case let .string(s):
            switch name {
            case "strip", "lstrip", "rstrip":
                return bound { a in .string(PyString.strip(s, try str(a, 0, "chars"), leading: name != "rstrip", trailing: name != "lstrip")) }
            case "split", "rsplit":
                return bound { a in
                    let maxsplit = a.value(1, "maxsplit")?.integer ?? -1
                    let parts = name == "split" ? try PyString.split(s, try str(a, 0, "sep"), maxsplit: maxsplit)
                                                : try PyString.rsplit(s, try str(a, 0, "sep"), maxsplit: maxsplit)
                    return .list(parts.map { .string($0) })
                }
            case "splitlines": return bound { a in .list(PyString.splitlines(s, keepends: a.value(0, "keepends")?.truthy ?? false).map { .string($0) }) }
            case "startswith", "endswith":
                return bound { a in
                    guard let p = a.value(0, name == "startswith" ? "prefix" : "suffix") else { throw JinjaRuntimeFailure(.type, "\(name)() takes at least 1 argument (0 given)") }
                    let options: [JinjaValue]
                    if case let .tuple(t) = p { options = t } else { options = [p] }
                    for o in options {
                        guard case let .string(x) = o else { throw JinjaRuntimeFailure(.type, "\(name) first arg must be str or a tuple of str, not \(o.typeName)") }
                        if name == "startswith" ? PyString.startsWith(s, x) : PyString.endsWith(s, x) { return .bool(true) }
                    }
                    return .bool(false)
                }
            case "upper": return bound { _ in .string(PyString.upper(s)) }
            case "lower", "casefold": return bound { _ in .string(PyString.lower(s)) }
            case "title": return bound { _ in .string(PyString.title(s)) }
            case "capitalize": return bound { _ in .string(PyString.capitalize(s)) }
            case "swapcase": return bound { _ in
                .string(s.unicodeScalars.map { $0.properties.isUppercase ? $0.properties.lowercaseMapping : $0.properties.isLowercase ? $0.properties.uppercaseMapping : String($0) }.joined())
            }
            case "replace":
                return bound { a in
                    guard let old = try str(a, 0, "old"), let new = try str(a, 1, "new") else { throw JinjaRuntimeFailure(.type, "replace expected 2 arguments") }
                    return .string(PyString.replace(s, old, new, count: a.value(2, "count")?.integer ?? -1))
                }
            case "find", "rfind", "index", "rindex":
                return bound { a in
                    guard let sub = try str(a, 0, "sub") else { throw JinjaRuntimeFailure(.type, "\(name)() takes at least 1 argument") }
                    let hay = PyString.scalars(s), needle = PyString.scalars(sub)
                    let start = a.value(1, "start")?.integer ?? 0
                    let r = name.hasPrefix("r") ? PyString.rfind(hay, needle) : PyString.find(hay, needle, from: start < 0 ? max(0, start + hay.count) : start)
                    if r == nil && name.hasSuffix("index") { throw JinjaRuntimeFailure(.value, "substring not found") }
                    return .int(r ?? -1)
                }
            case "count":
                return bound { a in
                    guard let sub = try str(a, 0, "sub") else { throw JinjaRuntimeFailure(.type, "count() takes at least 1 argument") }
                    return .int(PyString.count(PyString.scalars(s), PyString.scalars(sub)))
                }
            case "join":
                return bound { a in
                    guard let items = a.value(0, "iterable")?.iterationItems else { throw JinjaRuntimeFailure(.type, "can only join an iterable") }
                    return .string(try items.map { v -> String in
                        guard case let .string(x) = v else { throw JinjaRuntimeFailure(.type, "sequence item: expected str instance, \(v.typeName) found") }
                        return x
                    }.joined(separator: s))
                }
            case "format": return bound { a in .string(try JinjaInterpreter.pythonFormat(s, a)) }
            case "isdigit", "isdecimal", "isnumeric":
                return bound { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
            case "isalpha": return bound { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) }
            case "isalnum": return bound { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil }) }
            case "isspace": return bound { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(pythonIsSpace)) }
            case "islower", "isupper": return bound { [unowned self] _ in .bool(try self.applyTest(name == "islower" ? "lower" : "upper", .string(s), JinjaArguments())) }
            case "removeprefix":
                return bound { a in
                    let p = try str(a, 0, "prefix") ?? ""
                    return .string(PyString.startsWith(s, p) ? PyString.string(PyString.scalars(s).dropFirst(p.unicodeScalars.count)) : s)
                }
            case "removesuffix":
                return bound { a in
                    let p = try str(a, 0, "suffix") ?? ""
                    return .string(!p.isEmpty && PyString.endsWith(s, p) ? PyString.string(PyString.scalars(s).dropLast(p.unicodeScalars.count)) : s)
                }
            case "partition", "rpartition":
                return bound { a in
                    let sep = try str(a, 0, "sep") ?? ""
                    let hay = PyString.scalars(s), n = PyString.scalars(sep)
                    guard let k = name == "partition" ? PyString.find(hay, n, from: 0) : PyString.rfind(hay, n) else {
                        return name == "partition" ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
                    }
                    return .tuple([.string(PyString.string(hay[..<k])), .string(sep), .string(PyString.string(hay[(k + n.count)...]))])
                }
            case "zfill", "ljust", "rjust", "center":
                return bound { a in
                    let width = a.value(0, "width")?.integer ?? 0
                    let fill = name == "zfill" ? "0" : (try str(a, 1, "fillchar") ?? " ")
                    let pad = max(0, width - s.unicodeScalars.count)
                    switch name {
                    case "ljust": return .string(s + String(repeating: fill, count: pad))
                    case "rjust", "zfill": return .string(String(repeating: fill, count: pad) + s)
                    default:
                        let left = pad / 2 + (pad & width & 1)
                        return .string(String(repeating: fill, count: left) + s + String(repeating: fill, count: pad - left))
                    }
                }
            default: return nil
            }
        case let .dict(d):
            switch name {
            case "items": return bound { _ in .iterator(kind: "dict_items", d.pairs.map { .tuple([$0.0, $0.1]) }) }
            case "keys": return bound { _ in .iterator(kind: "dict_keys", d.keys) }
            case "values": return bound { _ in .iterator(kind: "dict_values", d.values) }
            case "get": return bound { a in
                guard let k = a.value(0, "key") else { throw JinjaRuntimeFailure(.type, "get expected at least 1 argument, got 0") }
                return d[k] ?? a.value(1, "default") ?? .none
            }
            case "copy": return bound { _ in .dict(d) }
            case "clear", "pop", "popitem", "setdefault", "update":
                throw JinjaRuntimeFailure(.security, "access to attribute '\(name)' of 'dict' object is unsafe.")
            default: return nil
            }
        case let .list(l), let .tuple(l):
            switch name {
            case "index": return bound { a in
                guard let x = a.value(0, "value"), let k = l.firstIndex(where: { $0.pyEquals(x) }) else {
                    throw JinjaRuntimeFailure(.value, "\(a.positional.first?.pythonRepr ?? "value") is not in list")
                }
                return .int(k)
            }
            case "count": return bound { a in
                guard let x = a.value(0, "value") else { return .int(0) }
                return .int(l.filter { $0.pyEquals(x) }.count)
            }
            case "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear":
                guard case .list = obj else { return nil }
                // HF renders in jinja2's ImmutableSandboxedEnvironment, which refuses these.
                throw JinjaRuntimeFailure(.security, "access to attribute '\(name)' of 'list' object is unsafe.")
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Python's `str.format` for `{}`, `{0}`, `{name}`, `{name.attr}` / `{0[key]}` and the
    /// common `:spec` forms.
    static func pythonFormat(_ fmt: String, _ a: JinjaArguments) throws -> String {
        let u = PyString.scalars(fmt)
        var out = ""
        var i = 0, auto = 0
        while i < u.count {
            let c = u[i]
            if c == "{" {
                if i + 1 < u.count, u[i + 1] == "{" { out += "{"; i += 2; continue }
                var field = ""
                i += 1
                while i < u.count, u[i] != "}" { field.unicodeScalars.append(u[i]); i += 1 }
                guard i < u.count else { throw JinjaRuntimeFailure(.value, "expected '}' before end of string") }
                i += 1
                var spec = ""
                if let colon = field.firstIndex(of: ":") {
                    spec = String(field[field.index(after: colon)...])
                    field = String(field[..<colon])
                }
                var conversion: Character? = nil
                if let bang = field.firstIndex(of: "!") {
                    conversion = field[field.index(after: bang)...].first
                    field = String(field[..<bang])
                }
                var v: JinjaValue
                if field.isEmpty {
                    guard auto < a.positional.count else { throw JinjaRuntimeFailure(.index, "Replacement index \(auto) out of range for positional args tuple") }
                    v = a.positional[auto]
                    auto += 1
                } else if let k = Int(field) {
                    guard k < a.positional.count else { throw JinjaRuntimeFailure(.index, "Replacement index \(k) out of range for positional args tuple") }
                    v = a.positional[k]
                } else {
                    guard let kw = a.keywords.first(where: { $0.0 == field }) else { throw JinjaRuntimeFailure(.type, "KeyError: '\(field)'") }
                    v = kw.1
                }
                var text = conversion == "r" ? v.pythonRepr : v.pythonString
                if !spec.isEmpty {
                    if spec.hasSuffix("f"), let n = v.numeric {
                        let p = Int(spec.dropFirst(spec.hasPrefix(".") ? 1 : 0).dropLast().split(separator: ".").last ?? "6") ?? 6
                        text = PyString.formatFixed(n, p)
                    } else if let width = Int(spec.filter { $0.isNumber }) {
                        let pad = max(0, width - text.unicodeScalars.count)
                        let rightAlign = spec.hasPrefix(">") || (!spec.hasPrefix("<") && v.numeric != nil)
                        text = rightAlign ? String(repeating: " ", count: pad) + text : text + String(repeating: " ", count: pad)
                    }
                }
                out += text
            } else if c == "}" {
                if i + 1 < u.count, u[i + 1] == "}" { out += "}"; i += 2; continue }
                throw JinjaRuntimeFailure(.value, "Single '}' encountered in format string")
            } else {
                out.unicodeScalars.append(c)
                i += 1
            }
        }
        return out
    }

    // MARK: Filters

    func applyFilter(_ name: String, _ value: JinjaValue, _ a: JinjaArguments) throws -> JinjaValue {
        let result = try filterResult(name, value, a)
        // jinja2's string filters work on soft_str(value), which keeps a Markup a Markup.
        if case .markup = value, case let .string(s) = result,
           ["trim", "upper", "lower", "capitalize", "title", "string", "indent", "center"].contains(name) {
            return .markup(s)
        }
        return result
    }

    private func filterResult(_ name: String, _ value: JinjaValue, _ a: JinjaArguments) throws -> JinjaValue {
        func items(_ v: JinjaValue) throws -> [JinjaValue] {
            guard let items = v.iterationItems else { throw JinjaRuntimeFailure(.type, "'\(v.typeName)' object is not iterable") }
            return items
        }
        func text(_ v: JinjaValue) -> String { v.pythonString }
        func attributeGetter(_ spec: JinjaValue?) -> ((JinjaValue) throws -> JinjaValue)? {
            guard let spec, !spec.isNone else { return nil }
            // jinja2's make_attrgetter: "a.b" walks attributes, digits are indexes.
            let parts: [JinjaValue] = spec.stringValue.map { $0.split(separator: ".").map { Int($0).map(JinjaValue.int) ?? .string(String($0)) } } ?? [spec]
            return { [unowned self] v in
                var cur = v
                for p in parts { cur = try self.item(cur, p) }
                return cur
            }
        }
        switch name {
        case "default", "d":
            let fallback = a.value(0, "default_value") ?? .string("")
            let boolean = a.value(1, "boolean")?.truthy ?? false
            if value.isUndefined || (boolean && !value.truthy) { return fallback }
            return value
        case "length", "count":
            return .int(try length(value))
        case "tojson":
            var o = JSONDumpOptions()
            o.ensureASCII = a.value(0, "ensure_ascii")?.truthy ?? false
            if let ind = a.value(1, "indent"), !ind.isNone {
                switch ind {
                case let .string(s): o.indent = s
                default:
                    guard let n = ind.integer else { throw JinjaRuntimeFailure(.type, "indent must be an int or a string") }
                    o.indent = String(repeating: " ", count: max(0, n))
                }
                o.itemSeparator = ","
            }
            if let sep = a.value(2, "separators"), !sep.isNone {
                guard let parts = sep.iterationItems, parts.count == 2, case let .string(x) = parts[0], case let .string(y) = parts[1] else {
                    throw JinjaRuntimeFailure(.value, "separators must be a (item_separator, key_separator) pair of strings")
                }
                (o.itemSeparator, o.keySeparator) = (x, y)
            }
            o.sortKeys = a.value(3, "sort_keys")?.truthy ?? false
            return .string(try value.jsonDumps(o))
        case "trim":
            let chars = a.value(0, "chars").flatMap { $0.isNone ? nil : $0.pythonString }
            return .string(PyString.strip(text(value), chars, leading: true, trailing: true))
        case "upper": return .string(PyString.upper(text(value)))
        case "lower": return .string(PyString.lower(text(value)))
        case "capitalize": return .string(PyString.capitalize(text(value)))
        case "title":
            // jinja2 splits words at runs of "-", whitespace and opening brackets.
            var out = ""
            var atWordStart = true
            for u in text(value).unicodeScalars {
                if u == "-" || u == "(" || u == "{" || u == "[" || u == "<" || pythonIsSpace(u) {
                    out.unicodeScalars.append(u)
                    atWordStart = true
                } else {
                    out += atWordStart ? u.properties.uppercaseMapping : u.properties.lowercaseMapping
                    atWordStart = false
                }
            }
            return .string(out)
        case "replace":
            guard let old = a.value(0, "old"), let new = a.value(1, "new") else { throw JinjaRuntimeFailure(.type, "replace needs old and new") }
            let c = a.value(2, "count").flatMap { $0.isNone ? nil : $0.integer } ?? -1
            return .string(PyString.replace(text(value), text(old), text(new), count: c))
        case "join":
            let sep = a.value(0, "d").map(text) ?? ""
            var list = try items(value)
            if let get = attributeGetter(a.value(1, "attribute")) { list = try list.map(get) }
            return .string(list.map(text).joined(separator: sep))
        case "first":
            return try items(value).first ?? .undefined(JinjaUndefined(message: "No first item, sequence was empty."))
        case "last":
            if case .iterator(let kind, _) = value, !JinjaValue.isView(kind) {
                throw JinjaRuntimeFailure(.type, "'\(kind)' object is not reversible")
            }
            return try items(value).last ?? .undefined(JinjaUndefined(message: "No last item, sequence was empty."))
        case "list": return .list(try items(value))
        case "string": return .string(text(value))
        case "safe": return .markup(text(value))
        case "e", "escape": return value.escapedMarkup
        case "forceescape": return JinjaValue.string(text(value)).escapedMarkup
        case "int":
            let fallback = a.value(0, "default") ?? .int(0)
            switch value {
            case let .int(i): return .int(i)
            case let .bool(b): return .int(b ? 1 : 0)
            case let .double(d): return d.isFinite ? .int(Int(d.rounded(.towardZero))) : fallback
            case let .string(s):
                let t = PyString.strip(s, nil, leading: true, trailing: true).replacingOccurrences(of: "_", with: "")
                if let i = Int(t) { return .int(i) }
                if let d = Double(t), d.isFinite { return .int(Int(d.rounded(.towardZero))) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = a.value(0, "default") ?? .double(0)
            switch value {
            case let .string(s): return Double(PyString.strip(s, nil, leading: true, trailing: true)).map(JinjaValue.double) ?? fallback
            default: return value.numeric.map(JinjaValue.double) ?? fallback
            }
        case "abs":
            switch value {
            case let .int(i): return .int(abs(i))
            case let .bool(b): return .int(b ? 1 : 0)
            case let .double(d): return .double(abs(d))
            default: throw JinjaRuntimeFailure(.type, "bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            let precision = a.value(0, "precision")?.integer ?? 0
            let method = a.value(1, "method")?.stringValue ?? "common"
            guard let x = value.numeric else { throw JinjaRuntimeFailure(.type, "type \(value.typeName) doesn't define __round__ method") }
            let scale = pow(10.0, Double(precision))
            switch method {
            case "common":
                if let i = value.integer { return .int(i) }
                return .double((x * scale).rounded(.toNearestOrEven) / scale)
            case "ceil": return .double((x * scale).rounded(.up) / scale)
            case "floor": return .double((x * scale).rounded(.down) / scale)
            default: throw JinjaRuntimeFailure(.filterArgument, "method must be common, ceil or floor")
            }
        case "map":
            // jinja2's map and select family yield nothing for a false value (None, Undefined).
            let list = value.truthy ? try items(value) : []
            if let get = attributeGetter(a.value(-1, "attribute")) {
                let fallback = a.value(-1, "default")
                return .iterator(kind: "generator", try list.map { v in
                    let r = try get(v)
                    if r.isUndefined, let fallback { return fallback }
                    return r
                })
            }
            guard case let .string(filter)? = a.positional.first else { throw JinjaRuntimeFailure(.filterArgument, "map requires a filter argument") }
            let rest = JinjaArguments(positional: Array(a.positional.dropFirst()), keywords: a.keywords)
            return .iterator(kind: "generator", try list.map { try applyFilter(filter, $0, rest) })
        case "select", "reject", "selectattr", "rejectattr":
            let list = value.truthy ? try items(value) : []
            var args = a.positional
            var get: ((JinjaValue) throws -> JinjaValue)? = nil
            if name.hasSuffix("attr") {
                guard !args.isEmpty else { throw JinjaRuntimeFailure(.type, "\(name) needs an attribute") }
                get = attributeGetter(args.removeFirst())
            }
            let keep = !name.hasPrefix("reject")
            var out: [JinjaValue] = []
            for v in list {
                let subject = try get?(v) ?? v
                let passed: Bool
                if case let .string(test)? = args.first {
                    passed = try applyTest(test, subject, JinjaArguments(positional: Array(args.dropFirst()), keywords: a.keywords))
                } else {
                    passed = subject.truthy
                }
                if passed == keep { out.append(v) }
            }
            return .iterator(kind: "generator", out)
        case "items":
            if value.isUndefined { return .iterator(kind: "generator", []) }
            guard case let .dict(d) = value else { throw JinjaRuntimeFailure(.type, "Can only get item pairs from a mapping.") }
            return .iterator(kind: "generator", d.pairs.map { .tuple([$0.0, $0.1]) })
        case "dictsort":
            guard case let .dict(d) = value else { throw JinjaRuntimeFailure(.attribute, "'\(value.typeName)' object has no attribute 'items'") }
            let caseSensitive = a.value(0, "case_sensitive")?.truthy ?? false
            let byValue = a.value(1, "by")?.stringValue == "value"
            let reverse = a.value(2, "reverse")?.truthy ?? false
            let sorted = try stableSort(d.pairs.map { JinjaValue.tuple([$0.0, $0.1]) }, reverse: reverse) { v in
                guard case let .tuple(p) = v else { return v }
                return JinjaInterpreter.sortKey(p[byValue ? 1 : 0], caseSensitive)
            }
            return .list(sorted)
        case "sort":
            let reverse = a.value(0, "reverse")?.truthy ?? false
            let caseSensitive = a.value(1, "case_sensitive")?.truthy ?? false
            // jinja2's make_multi_attrgetter: "a,b" sorts by several attributes, and the key is
            // always a list, so equal items are never ordered with `<` (None, Undefined sort).
            var getters: [((JinjaValue) throws -> JinjaValue)?] = [nil]
            if let spec = a.value(2, "attribute"), !spec.isNone {
                getters = spec.stringValue.map { $0.split(separator: ",").map { attributeGetter(.string(String($0))) } } ?? [attributeGetter(spec)]
            }
            return .list(try stableSort(try items(value), reverse: reverse) { v in
                .list(try getters.map { JinjaInterpreter.sortKey(try $0?(v) ?? v, caseSensitive) })
            })
        case "unique":
            let caseSensitive = a.value(0, "case_sensitive")?.truthy ?? false
            let get = attributeGetter(a.value(1, "attribute"))
            var seen = JinjaDict()
            var out: [JinjaValue] = []
            for v in try items(value) {
                let key = JinjaInterpreter.sortKey(try get?(v) ?? v, caseSensitive)
                if seen[key] == nil { seen[key] = JinjaValue.none; out.append(v) }
            }
            return .iterator(kind: "generator", out)
        case "reverse":
            switch value.plain {
            case let .string(s): return .string(PyString.string(s.unicodeScalars.reversed()))
            case .list, .tuple: return .iterator(kind: "list_reverseiterator", try items(value).reversed())
            case .dict: return .iterator(kind: "dict_reversekeyiterator", try items(value).reversed())
            case let .iterator(kind, list) where JinjaValue.isView(kind): return .iterator(kind: kind.replacingOccurrences(of: "dict_", with: "dict_reverse") + "iterator", list.reversed())
            default:
                // Not reversible: jinja2 makes a list and reverses that.
                return .list(try items(value).reversed())
            }
        case "indent":
            var indentation = "    "
            if let w = a.value(0, "width") {
                if case let .string(s) = w { indentation = s } else { indentation = String(repeating: " ", count: max(0, w.integer ?? 4)) }
            }
            let first = a.value(1, "first")?.truthy ?? false
            let blank = a.value(2, "blank")?.truthy ?? false
            let lines = PyString.splitlines(text(value) + "\n")
            var rv: String
            if blank {
                rv = lines.joined(separator: "\n" + indentation)
            } else {
                rv = lines.first ?? ""
                if lines.count > 1 {
                    rv += "\n" + lines.dropFirst().map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
                }
            }
            return .string(first ? indentation + rv : rv)
        case "wordcount":
            var n = 0
            var inWord = false
            for u in text(value).unicodeScalars {
                let w = PyString.isWordCharacter(u)
                if w && !inWord { n += 1 }
                inWord = w
            }
            return .int(n)
        case "batch":
            guard let size = a.value(0, "linecount")?.integer, size > 0 else { throw JinjaRuntimeFailure(.value, "batch size must be positive") }
            let fill = a.value(1, "fill_with")
            var out: [JinjaValue] = []
            var cur: [JinjaValue] = []
            for v in try items(value) {
                cur.append(v)
                if cur.count == size { out.append(.list(cur)); cur = [] }
            }
            if !cur.isEmpty {
                if let fill, !fill.isNone { while cur.count < size { cur.append(fill) } }
                out.append(.list(cur))
            }
            return .iterator(kind: "generator", out)
        case "sum":
            let get = attributeGetter(a.value(0, "attribute"))
            var total = a.value(1, "start") ?? .int(0)
            for v in try items(value) { total = try binary("+", total, try get?(v) ?? v) }
            return total
        case "min", "max":
            let caseSensitive = a.value(0, "case_sensitive")?.truthy ?? false
            let get = attributeGetter(a.value(1, "attribute"))
            var best: JinjaValue? = nil
            var bestKey: JinjaValue? = nil
            for v in try items(value) {
                let k = JinjaInterpreter.sortKey(try get?(v) ?? v, caseSensitive)
                if let bk = bestKey {
                    if name == "min" ? try k.pyLess(bk) : try bk.pyLess(k) { best = v; bestKey = k }
                } else { best = v; bestKey = k }
            }
            return best ?? .undefined(JinjaUndefined(message: "No aggregated item, sequence was empty."))
        case "attr":
            guard case let .string(n)? = a.value(0, "name") else { throw JinjaRuntimeFailure(.type, "attr needs a name") }
            return try attribute(value, n)
        case "center":
            let width = a.value(0, "width")?.integer ?? 80
            return try call(try method(.string(text(value)), "center") ?? .none, JinjaArguments(positional: [.int(width)]))
        case "format":
            return .string(try PyString.percentFormat(text(value), a.keywords.isEmpty ? .tuple(a.positional) : .dict(try JinjaInterpreter.dictArguments(JinjaArguments(keywords: a.keywords), "format"))))
        case "pprint": return .string(value.pythonRepr)
        default:
            throw JinjaRuntimeFailure(.runtime, "No filter named '\(name)'.")
        }
    }

    /// Python's `len()`; Undefined has length 0.
    func length(_ v: JinjaValue) throws -> Int {
        switch v.plain {
        case .undefined: return 0
        case let .string(s): return s.unicodeScalars.count
        case let .list(a), let .tuple(a): return a.count
        case let .dict(d): return d.count
        case let .namespace(n): return n.attributes.count
        case let .iterator(kind, items) where JinjaValue.isView(kind): return items.count
        default: throw JinjaRuntimeFailure(.type, "object of type '\(v.typeName)' has no len()")
        }
    }

    /// jinja2's sort key: strings lower-cased unless case-sensitive.
    static func sortKey(_ v: JinjaValue, _ caseSensitive: Bool) -> JinjaValue {
        if !caseSensitive, case let .string(s) = v { return .string(PyString.lower(s)) }
        return v
    }

    private func stableSort(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        var failure: Error? = nil
        let sorted = keyed.sorted { x, y in
            do {
                if try (reverse ? y.1.pyLess(x.1) : x.1.pyLess(y.1)) { return true }
                if try (reverse ? x.1.pyLess(y.1) : y.1.pyLess(x.1)) { return false }
            } catch { failure = error }
            return x.0 < y.0
        }
        if let failure { throw failure }
        return sorted.map(\.2)
    }

    // MARK: Tests

    func applyTest(_ name: String, _ value: JinjaValue, _ a: JinjaArguments) throws -> Bool {
        let other = a.positional.first
        let v = value.plain
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string": if case .string = v { return true } else { return false }
        case "number": return v.numeric != nil
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .double = v { return true } else { return false }
        case "boolean": if case .bool = v { return true } else { return false }
        case "true": if case .bool(true) = v { return true } else { return false }
        case "false": if case .bool(false) = v { return true } else { return false }
        case "mapping": if case .dict = v { return true } else { return false }
        case "sequence":
            switch v {
            case .string, .list, .tuple, .dict, .undefined: return true
            case let .iterator(kind, _): return JinjaValue.isView(kind) ? false : false
            default: return false
            }
        case "iterable": return v.iterationItems != nil
        case "callable": if case .function = v { return true } else { return false }
        case "sameas":
            guard let other else { return false }
            switch (v, other) {
            case (.none, .none), (.undefined, .undefined): return true
            case let (.bool(x), .bool(y)): return x == y
            case let (.namespace(x), .namespace(y)): return x === y
            case let (.function(x), .function(y)): return x === y
            case let (.int(x), .int(y)): return x == y && x >= -5 && x <= 256
            default: return false
            }
        case "eq", "equalto", "==": return other.map { v.pyEquals($0) } ?? false
        case "ne", "!=": return other.map { !v.pyEquals($0) } ?? true
        case "lt", "lessthan", "<": return try other.map { try v.pyLess($0) } ?? false
        case "gt", "greaterthan", ">": return try other.map { try $0.pyLess(v) } ?? false
        case "le", "<=": return try other.map { try v.pyLess($0) || v.pyEquals($0) } ?? false
        case "ge", ">=": return try other.map { try $0.pyLess(v) || v.pyEquals($0) } ?? false
        case "in": return try other.map { try contains($0, v) } ?? false
        case "odd", "even":
            // jinja2: value % 2 == 1 (or == 0), with Python's % on whatever the value is.
            return try binary("%", v, .int(2)).pyEquals(.int(name == "odd" ? 1 : 0))
        case "divisibleby":
            return try binary("%", v, other ?? .none).pyEquals(.int(0))
        case "lower", "upper":
            // str(value).islower() / .isupper(): some cased character, none of the other case.
            let s = v.pythonString
            let cased = s.unicodeScalars.filter { (u: Unicode.Scalar) in u.properties.isCased }
            if cased.isEmpty { return false }
            return cased.allSatisfy { (u: Unicode.Scalar) in name == "lower" ? u.properties.isLowercase : u.properties.isUppercase }
        case "escaped": if case .markup = value { return true } else { return false }
        case "filter": return v.stringValue.map { JinjaInterpreter.filterNames.contains($0) } ?? false
        case "test": return v.stringValue.map { JinjaInterpreter.testNames.contains($0) } ?? false
        default:
            throw JinjaRuntimeFailure(.runtime, "No test named '\(name)'.")
        }
    }
}

// MARK: - strftime

private let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
private let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

/// C's strftime (as glibc spells it in the C locale, with its `-` no-padding flag) for a fixed time.
func strftime(_ format: String, _ t: JinjaDateTime) -> String {
    func pad(_ v: Int, _ width: Int, _ noPad: Bool, _ fill: Character = "0") -> String {
        let s = String(v)
        return noPad || s.count >= width ? s : String(repeating: fill, count: width - s.count) + s
    }
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
    let leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0
    let dayOfYear = cumulative[max(0, min(11, t.month - 1))] + t.day + (leap && t.month > 2 ? 1 : 0)
    // Days since 1970-01-01 (a Thursday), by the civil-from-days inverse.
    let y = t.month <= 2 ? t.year - 1 : t.year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (t.month + 9) % 12
    let doy = (153 * mp + 2) / 5 + t.day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    let weekday = ((days % 7) + 7 + 3) % 7  // 0 = Monday
    let hour12 = t.hour % 12 == 0 ? 12 : t.hour % 12

    var out = ""
    var it = format.makeIterator()
    while let c = it.next() {
        guard c == "%" else { out.append(c); continue }
        guard var f = it.next() else { out.append("%"); break }
        var noPad = false
        if f == "-" {
            noPad = true
            guard let g = it.next() else { out += "%-"; break }
            f = g
        }
        switch f {
        case "Y": out += String(t.year)
        case "y": out += pad(t.year % 100, 2, noPad)
        case "m": out += pad(t.month, 2, noPad)
        case "d": out += pad(t.day, 2, noPad)
        case "e": out += pad(t.day, 2, noPad, " ")
        case "H": out += pad(t.hour, 2, noPad)
        case "I": out += pad(hour12, 2, noPad)
        case "M": out += pad(t.minute, 2, noPad)
        case "S": out += pad(t.second, 2, noPad)
        case "p": out += t.hour < 12 ? "AM" : "PM"
        case "j": out += pad(dayOfYear, 3, noPad)
        case "B": out += monthNames[max(0, min(11, t.month - 1))]
        case "b", "h": out += String(monthNames[max(0, min(11, t.month - 1))].prefix(3))
        case "A": out += weekdayNames[weekday]
        case "a": out += String(weekdayNames[weekday].prefix(3))
        case "u": out += String(weekday + 1)
        case "w": out += String((weekday + 1) % 7)
        case "F": out += "\(t.year)-\(pad(t.month, 2, false))-\(pad(t.day, 2, false))"
        case "T": out += "\(pad(t.hour, 2, false)):\(pad(t.minute, 2, false)):\(pad(t.second, 2, false))"
        case "D": out += "\(pad(t.month, 2, false))/\(pad(t.day, 2, false))/\(pad(t.year % 100, 2, false))"
        case "R": out += "\(pad(t.hour, 2, false)):\(pad(t.minute, 2, false))"
        case "%": out += "%"
        case "n": out += "\n"
        case "t": out += "\t"
        default: out += "%" + (noPad ? "-" : "") + String(f)
        }
    }
    return out
}
