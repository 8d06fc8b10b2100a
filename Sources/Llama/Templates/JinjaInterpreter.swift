import Foundation

// The interpreter walks the syntax tree with jinja2's scoping: a `for` body gets a fresh
// scope on every iteration (a `set` inside a loop is gone after it, which is why templates
// use `namespace()`), a macro call gets its own scope over the one it was defined in, and
// `if` opens no scope. The template's variables sit in a scope above the template's own.

final class JinjaScope {
    var variables: [String: JinjaValue] = [:]
    let parent: JinjaScope?
    /// Names this scope's body assigns before (or without) reading them while no enclosing
    /// scope's body mentions them: jinja2 compiles them to locals that are unset until
    /// assigned, so until then they are undefined here and in inner scopes, whatever the
    /// template's variables hold.
    let unbound: Set<String>
    /// Every name this scope's own body mentions (inner bodies excluded), and its parameters.
    let referenced: Set<String>

    init(parent: JinjaScope?, unbound: Set<String> = [], referenced: Set<String> = []) {
        self.parent = parent
        self.unbound = unbound
        self.referenced = referenced
    }

    /// A scope for a body that jinja2 compiles as a frame of its own, with its parameters.
    convenience init(frame body: [JinjaNode], over parent: JinjaScope, parameters: [String] = []) {
        let symbols = JinjaNameCheck.frameSymbols(body)
        var outer = Set<String>()
        var s: JinjaScope? = parent
        while let scope = s { outer.formUnion(scope.referenced); s = scope.parent }
        self.init(parent: parent, unbound: symbols.storedFirst.subtracting(outer).subtracting(parameters),
                  referenced: symbols.referenced.union(parameters))
    }

    func lookup(_ name: String) -> JinjaValue? {
        var s: JinjaScope? = self
        while let scope = s {
            if let v = scope.variables[name] { return v }
            if scope.unbound.contains(name) { return nil }
            s = scope.parent
        }
        return nil
    }
}

/// A fixed date and time for `strftime_now`.
public struct JinjaDateTime: Sendable, Equatable {
    public var year, month, day, hour, minute, second: Int
    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }
}

final class JinjaInterpreter {
    /// The template line being evaluated, for error messages.
    var line = 0
    let now: JinjaDateTime
    let root: JinjaScope

    private enum Flow { case normal, breakLoop, continueLoop }

    init(variables: [String: JinjaValue], now: JinjaDateTime, rootSymbols: (storedFirst: Set<String>, referenced: Set<String>)) {
        self.now = now
        let globals = JinjaScope(parent: nil)
        let context = JinjaScope(parent: globals)
        root = JinjaScope(parent: context, unbound: rootSymbols.storedFirst, referenced: rootSymbols.referenced)
        for (k, v) in JinjaInterpreter.globals(now: now) { globals.variables[k] = v }
        for (k, v) in variables { context.variables[k] = v }
    }

    /// A scope for a body that jinja2 compiles as its own frame.
    private func frame(_ body: [JinjaNode], over parent: JinjaScope, parameters: [String] = []) -> JinjaScope {
        JinjaScope(frame: body, over: parent, parameters: parameters)
    }

    func render(_ nodes: [JinjaNode]) throws -> String {
        var out = ""
        do {
            _ = try execute(nodes, in: root, into: &out)
        } catch let f as JinjaRuntimeFailure {
            throw JinjaError.runtime(kind: f.kind.rawValue, message: f.message, line: line)
        }
        return out
    }

    // MARK: Statements

    private func execute(_ nodes: [JinjaNode], in scope: JinjaScope, into out: inout String) throws -> Flow {
        for node in nodes {
            line = node.line
            switch node.kind {
            case let .text(t): out += t
            case let .output(e): out += try evaluate(e, scope).pythonString
            case let .conditional(branches, otherwise):
                var taken = false
                for (condition, body) in branches where try evaluate(condition, scope).truthy {
                    taken = true
                    let flow = try execute(body, in: scope, into: &out)
                    if flow != .normal { return flow }
                    break
                }
                if !taken, let body = otherwise {
                    let flow = try execute(body, in: scope, into: &out)
                    if flow != .normal { return flow }
                }
            case let .loop(target, iterable, filter, body, otherwise):
                try loop(target, iterable, filter, body, otherwise, scope, &out)
            case let .set(target, e):
                try assign(target, try evaluate(e, scope), in: scope)
            case let .setBlock(target, filters, body):
                var text = ""
                _ = try execute(body, in: frame(body, over: scope), into: &text)
                var v = JinjaValue.string(text)
                for f in filters { v = try applyNamedFilter(f.name, v, try arguments(f.arguments, scope)) }
                try assign(target, v, in: scope)
            case let .macro(m):
                scope.variables[m.name] = .function(macro(m, definedIn: scope))
            case let .callBlock(callee, parameters, body):
                let caller = macro(JinjaMacroDefinition(name: "caller", parameters: parameters, body: body), definedIn: scope)
                guard case let .call(fn, args) = callee.kind else { break }
                var a = try arguments(args, scope)
                a.keywords.append(("caller", .function(caller)))
                out += try call(try evaluate(fn, scope), a).pythonString
            case let .filterBlock(filters, body):
                var text = ""
                _ = try execute(body, in: frame(body, over: scope), into: &text)
                var v = JinjaValue.string(text)
                for f in filters { v = try applyNamedFilter(f.name, v, try arguments(f.arguments, scope)) }
                out += v.pythonString
            case let .with(assignments, body):
                let inner = frame(body, over: scope, parameters: assignments.flatMap { JinjaNameCheck.targetNames($0.0) })
                for (t, e) in assignments { try assign(t, try evaluate(e, scope), in: inner) }
                let flow = try execute(body, in: inner, into: &out)
                if flow != .normal { return flow }
            case let .generation(body):
                // HF's tag is a call block: its body is a frame of its own.
                let flow = try execute(body, in: frame(body, over: scope), into: &out)
                if flow != .normal { return flow }
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    private func loop(_ target: JinjaTarget, _ iterable: JinjaExpr, _ filter: JinjaExpr?, _ body: [JinjaNode],
                      _ otherwise: [JinjaNode]?, _ scope: JinjaScope, _ out: inout String) throws {
        let source = try evaluate(iterable, scope)
        guard var items = source.iterationItems else {
            throw JinjaRuntimeFailure(.type, "'\(source.typeName)' object is not iterable")
        }
        if let filter {
            items = try items.filter { item in
                let s = JinjaScope(parent: scope)
                try assign(target, item, in: s)
                return try evaluate(filter, s).truthy
            }
        }
        let loopLine = line
        var completed = false
        let loopParameters = JinjaNameCheck.targetNames(target) + ["loop"]
        for (i, item) in items.enumerated() {
            line = loopLine
            let s = frame(body, over: scope, parameters: loopParameters)
            try assign(target, item, in: s)
            var info = JinjaDict()
            info["index"] = .int(i + 1)
            info["index0"] = .int(i)
            info["revindex"] = .int(items.count - i)
            info["revindex0"] = .int(items.count - i - 1)
            info["first"] = .bool(i == 0)
            info["last"] = .bool(i == items.count - 1)
            info["length"] = .int(items.count)
            info["depth"] = .int(1)
            info["depth0"] = .int(0)
            info["previtem"] = i > 0 ? items[i - 1] : .undefined(JinjaUndefined(message: "there is no previous item"))
            info["nextitem"] = i + 1 < items.count ? items[i + 1] : .undefined(JinjaUndefined(message: "there is no next item"))
            info["cycle"] = .function(JinjaFunction(name: "cycle") { a in
                guard !a.positional.isEmpty else { throw JinjaRuntimeFailure(.type, "no items for cycling given") }
                return a.positional[i % a.positional.count]
            })
            s.variables["loop"] = .namespace(JinjaNamespace(info))
            let flow = try execute(body, in: s, into: &out)
            if flow == .breakLoop { break }
            if flow == .normal { completed = true }
        }
        // jinja2 marks an iteration done only when its body ran to the end: `else` runs when
        // none did (no items, or a break/continue in every iteration before the first finished).
        if !completed, let otherwise {
            _ = try execute(otherwise, in: frame(otherwise, over: scope), into: &out)
        }
    }

    private func assign(_ target: JinjaTarget, _ value: JinjaValue, in scope: JinjaScope) throws {
        switch target {
        case let .name(n): scope.variables[n] = value
        case let .tuple(targets):
            guard let items = value.iterationItems else {
                throw JinjaRuntimeFailure(.type, "cannot unpack non-iterable \(value.typeName) object")
            }
            guard items.count == targets.count else {
                throw JinjaRuntimeFailure(.value, items.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try assign(t, v, in: scope) }
        case let .attribute(n, attr):
            guard case let .namespace(ns)? = scope.lookup(n) else {
                throw JinjaRuntimeFailure(.runtime, "cannot assign attribute on non-namespace object")
            }
            ns.attributes[attr] = value
        }
    }

    /// A macro as a callable: each call renders the body in a new scope over `scope`.
    private func macro(_ m: JinjaMacroDefinition, definedIn scope: JinjaScope) -> JinjaFunction {
        let fallback = root
        // jinja2 accepts extra arguments only when the body reads varargs / kwargs / caller.
        let used = JinjaNameCheck.referencedNames(m.body)
        let takesVarargs = used.contains("varargs"), takesKwargs = used.contains("kwargs"), takesCaller = used.contains("caller")
        let macroParameters = m.parameters.map(\.0) + ["varargs", "kwargs", "caller"]
        return JinjaFunction(name: m.name, typeName: "Macro") { [unowned self, weak scope] args in
            if args.positional.count > m.parameters.count && !takesVarargs {
                throw JinjaRuntimeFailure(.type, "macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)")
            }
            for (k, _) in args.keywords where !m.parameters.contains(where: { $0.0 == k }) {
                if k == "caller" {
                    if !takesCaller { throw JinjaRuntimeFailure(.type, "macro '\(m.name)' was invoked with two values for the special caller argument. This is most likely a bug.") }
                } else if !takesKwargs {
                    throw JinjaRuntimeFailure(.type, "macro '\(m.name)' takes no keyword argument '\(k)'")
                }
            }
            let s = JinjaScope(frame: m.body, over: scope ?? fallback, parameters: macroParameters)
            let savedLine = self.line
            defer { self.line = savedLine }
            var used = Set<String>()
            for (i, (name, defaultValue)) in m.parameters.enumerated() {
                if let v = args.value(i, name) {
                    s.variables[name] = v
                    used.insert(name)
                } else if let d = defaultValue {
                    s.variables[name] = try self.evaluate(d, s)
                } else {
                    s.variables[name] = .undefined(JinjaUndefined(message: "parameter '\(name)' was not provided"))
                }
            }
            s.variables["varargs"] = .tuple(Array(args.positional.dropFirst(m.parameters.count)))
            var kwargs = JinjaDict()
            for (k, v) in args.keywords where !used.contains(k) && k != "caller" { kwargs[k] = v }
            s.variables["kwargs"] = .dict(kwargs)
            if let caller = args.keywords.first(where: { $0.0 == "caller" }) { s.variables["caller"] = caller.1 }
            var out = ""
            _ = try self.execute(m.body, in: s, into: &out)
            return .string(out)
        }
    }

    // MARK: Expressions

    private func arguments(_ a: JinjaCallArguments, _ scope: JinjaScope) throws -> JinjaArguments {
        var args = JinjaArguments(positional: try a.positional.map { try evaluate($0, scope) },
                                  keywords: try a.keywords.map { ($0.0, try evaluate($0.1, scope)) })
        if let spread = a.spreadPositional {
            let v = try evaluate(spread, scope)
            guard let items = v.iterationItems else { throw JinjaRuntimeFailure(.type, "argument after * must be an iterable, not \(v.typeName)") }
            args.positional += items
        }
        if let spread = a.spreadKeywords {
            let v = try evaluate(spread, scope)
            guard case let .dict(d) = v.plain else { throw JinjaRuntimeFailure(.type, "argument after ** must be a mapping, not \(v.typeName)") }
            for (k, value) in d.pairs {
                guard case let .string(name) = k else { throw JinjaRuntimeFailure(.type, "keywords must be strings") }
                args.keywords.append((name, value))
            }
        }
        return args
    }

    func call(_ callee: JinjaValue, _ args: JinjaArguments) throws -> JinjaValue {
        switch callee {
        case let .function(f): return try f.call(args)
        case let .undefined(u): throw JinjaRuntimeFailure(.undefined, u.message)
        default: throw JinjaRuntimeFailure(.type, "'\(callee.typeName)' object is not callable")
        }
    }

    func evaluate(_ e: JinjaExpr, _ scope: JinjaScope) throws -> JinjaValue {
        switch e.kind {
        case let .literal(v): return v
        case let .name(n): return scope.lookup(n) ?? .undefinedName(n)
        case let .list(items): return .list(try items.map { try evaluate($0, scope) })
        case let .tuple(items): return .tuple(try items.map { try evaluate($0, scope) })
        case let .dict(pairs):
            var d = JinjaDict()
            for (k, v) in pairs { d[try evaluate(k, scope)] = try evaluate(v, scope) }
            return .dict(d)
        case let .attribute(obj, name):
            return try attribute(try evaluate(obj, scope), name)
        case let .index(obj, index):
            let o = try evaluate(obj, scope)
            if case let .slice(a, b, c) = index.kind {
                return try slice(o, try a.map { try evaluate($0, scope) }, try b.map { try evaluate($0, scope) }, try c.map { try evaluate($0, scope) })
            }
            return try item(o, try evaluate(index, scope))
        case .slice:
            throw JinjaRuntimeFailure(.type, "a slice outside a subscript")
        case let .call(fn, args):
            return try call(try evaluate(fn, scope), try arguments(args, scope))
        case let .filter(value, name, args):
            guard JinjaInterpreter.filterNames.contains(name) else { throw JinjaRuntimeFailure(.runtime, "No filter named '\(name)' found.") }
            return try applyFilter(name, try evaluate(value, scope), try arguments(args, scope))
        case let .test(value, name, args, negated):
            guard JinjaInterpreter.testNames.contains(name) else { throw JinjaRuntimeFailure(.runtime, "No test named '\(name)' found.") }
            let r = try applyTest(name, try evaluate(value, scope), try arguments(args, scope))
            return .bool(r != negated)
        case let .not(x): return .bool(!(try evaluate(x, scope).truthy))
        case let .negate(x): return try negate(try evaluate(x, scope))
        case let .plus(x):
            let v = try evaluate(x, scope)
            guard v.numeric != nil else { throw JinjaRuntimeFailure(.type, "bad operand type for unary +: '\(v.typeName)'") }
            if case let .bool(b) = v { return .int(b ? 1 : 0) }
            return v
        case let .binary(op, l, r):
            if op == "and" {
                let a = try evaluate(l, scope)
                return a.truthy ? try evaluate(r, scope) : a
            }
            if op == "or" {
                let a = try evaluate(l, scope)
                return a.truthy ? a : try evaluate(r, scope)
            }
            return try binary(op, try evaluate(l, scope), try evaluate(r, scope))
        case let .compare(first, ops):
            var left = try evaluate(first, scope)
            for (op, rightExpr) in ops {
                let right = try evaluate(rightExpr, scope)
                guard try compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .conditional(then, condition, otherwise):
            if try evaluate(condition, scope).truthy { return try evaluate(then, scope) }
            if let otherwise { return try evaluate(otherwise, scope) }
            return .undefined(JinjaUndefined(message: "the inline if-expression on line \(e.line) evaluated to false and no else section was defined."))
        }
    }

    /// A filter named in the template: a name jinja2 let through compilation only fails here.
    private func applyNamedFilter(_ name: String, _ v: JinjaValue, _ a: JinjaArguments) throws -> JinjaValue {
        guard JinjaInterpreter.filterNames.contains(name) else { throw JinjaRuntimeFailure(.runtime, "No filter named '\(name)' found.") }
        return try applyFilter(name, v, a)
    }

    private func negate(_ v: JinjaValue) throws -> JinjaValue {
        switch v {
        case let .int(i): return .int(-i)
        case let .bool(b): return .int(b ? -1 : 0)
        case let .double(d): return .double(-d)
        case let .undefined(u): throw JinjaRuntimeFailure(.undefined, u.message)
        default: throw JinjaRuntimeFailure(.type, "bad operand type for unary -: '\(v.typeName)'")
        }
    }

    func compare(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case "==": return a.pyEquals(b)
        case "!=": return !a.pyEquals(b)
        case "<", ">", "<=", ">=":
            do {
                switch op {
                case "<": return try a.pyLess(b)
                case ">": return try b.pyLess(a)
                case "<=": return try a.pyLess(b) || a.pyEquals(b)
                default: return try b.pyLess(a) || a.pyEquals(b)
                }
            } catch let f as JinjaRuntimeFailure where f.kind == .type {
                // Python names the operator written and the operands in order.
                throw JinjaRuntimeFailure(.type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
        case "in": return try contains(b, a)
        case "notin": return try !contains(b, a)
        default: throw JinjaRuntimeFailure(.type, "unknown comparison '\(op)'")
        }
    }

    /// Python `needle in container`.
    func contains(_ container: JinjaValue, _ needleValue: JinjaValue) throws -> Bool {
        let needle = needleValue.plain
        switch container.plain {
        case let .string(s):
            guard case let .string(n) = needle else {
                if case let .undefined(u) = needle { throw JinjaRuntimeFailure(.undefined, u.message) }
                throw JinjaRuntimeFailure(.type, "'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return PyString.find(Array(s.unicodeScalars), Array(n.unicodeScalars), from: 0) != nil
        case let .dict(d): return d[needle] != nil
        case let .iterator(kind, items) where kind == "dict_items" || kind == "dict_keys" || kind == "dict_values":
            return items.contains { $0.pyEquals(needle) }
        case .undefined: return false
        default:
            guard let items = container.iterationItems else {
                throw JinjaRuntimeFailure(.type, "argument of type '\(container.typeName)' is not iterable")
            }
            return items.contains { $0.pyEquals(needle) }
        }
    }

    func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if op == "~" { return .string(a.pythonString + b.pythonString) }
        if op == "+" || op == "%", case let .markup(m) = a {
            // Markup escapes what is added to it or formatted into it.
            if op == "%" {
                let args: JinjaValue
                switch b {
                case let .tuple(t): args = .tuple(t.map(\.escapedMarkup))
                case let .dict(d):
                    var e = JinjaDict()
                    for (k, v) in d.pairs { e[k] = v.escapedMarkup }
                    args = .dict(e)
                default: args = b.escapedMarkup
                }
                return .markup(try PyString.percentFormat(m, args))
            }
            switch b {
            case .string, .markup: return .markup(m + b.escapedMarkup.pythonString)
            default: break
            }
        }
        if op == "+", case let .markup(m) = b, case .string = a { return .markup(a.escapedMarkup.pythonString + m) }
        let a = a.plain, b = b.plain
        if case let .undefined(u) = a { throw JinjaRuntimeFailure(.undefined, u.message) }
        if case let .undefined(u) = b { throw JinjaRuntimeFailure(.undefined, u.message) }
        let unsupported = JinjaRuntimeFailure(.type, "unsupported operand type(s) for \(op == "**" ? "** or pow()" : op): '\(a.typeName)' and '\(b.typeName)'")
        switch (op, a, b) {
        case let ("+", .string(x), .string(y)): return .string(x + y)
        case let ("+", .list(x), .list(y)): return .list(x + y)
        case let ("+", .tuple(x), .tuple(y)): return .tuple(x + y)
        case ("+", .string, _): throw JinjaRuntimeFailure(.type, "can only concatenate str (not \"\(b.typeName)\") to str")
        case ("+", .list, _): throw JinjaRuntimeFailure(.type, "can only concatenate list (not \"\(b.typeName)\") to list")
        case let ("*", .string(s), n), let ("*", n, .string(s)):
            guard let k = n.integer else { throw JinjaRuntimeFailure(.type, "can't multiply sequence by non-int of type '\(n.typeName)'") }
            return .string(String(repeating: s, count: max(0, k)))
        case let ("*", .list(l), n), let ("*", n, .list(l)):
            guard let k = n.integer else { throw JinjaRuntimeFailure(.type, "can't multiply sequence by non-int of type '\(n.typeName)'") }
            return .list(Array([[JinjaValue]](repeating: l, count: max(0, k)).joined()))
        case let ("%", .string(fmt), args): return .string(try PyString.percentFormat(fmt, args))
        default: break
        }
        // Numbers: ints stay ints (bools count as ints), anything with a float is float.
        guard a.numeric != nil, b.numeric != nil else { throw unsupported }
        if let x = a.integer, let y = b.integer {
            switch op {
            case "+": return .int(x &+ y)
            case "-": return .int(x &- y)
            case "*": return .int(x &* y)
            case "/":
                guard y != 0 else { throw JinjaRuntimeFailure(.zeroDivision, "division by zero") }
                return .double(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw JinjaRuntimeFailure(.zeroDivision, "integer division or modulo by zero") }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw JinjaRuntimeFailure(.zeroDivision, "integer modulo by zero") }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**":
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                var result = 1, base = x, e = y
                while e > 0 {
                    if e & 1 == 1 { result = result &* base }
                    base = base &* base
                    e >>= 1
                }
                return .int(result)
            default: throw unsupported
            }
        }
        let x = a.numeric ?? 0, y = b.numeric ?? 0
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw JinjaRuntimeFailure(.zeroDivision, "float division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw JinjaRuntimeFailure(.zeroDivision, "float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw JinjaRuntimeFailure(.zeroDivision, "float modulo") }
            let r = x.truncatingRemainder(dividingBy: y)
            return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .double(pow(x, y))
        default: throw unsupported
        }
    }

    // MARK: Attribute and item access (jinja2's sandboxed getattr / getitem)

    func attribute(_ objValue: JinjaValue, _ name: String) throws -> JinjaValue {
        let obj = objValue.plain
        if case let .undefined(u) = obj { throw JinjaRuntimeFailure(.undefined, u.message) }
        if name.hasPrefix("_") {
            return .undefined(JinjaUndefined(message: "'\(obj.objectTypeRepr)' has no attribute '\(name)'"))
        }
        if let m = try method(obj, name) { return m }
        switch obj {
        case let .dict(d): if let v = d[name] { return v }
        case let .namespace(n): if let v = n.attributes[name] { return v }
        default: break
        }
        return .undefined(JinjaUndefined(message: "'\(obj.objectTypeRepr)' has no attribute '\(name)'"))
    }

    func item(_ objValue: JinjaValue, _ keyValue: JinjaValue) throws -> JinjaValue {
        let obj = objValue.plain, key = keyValue.plain
        switch obj {
        case let .undefined(u): throw JinjaRuntimeFailure(.undefined, u.message)
        case let .dict(d): if let v = d[key] { return v }
        case let .list(a), let .tuple(a):
            if let i = key.integer, case .int = key {
                let k = i < 0 ? i + a.count : i
                if k >= 0 && k < a.count { return a[k] }
            }
        case let .string(s):
            if case let .int(i) = key {
                let u = Array(s.unicodeScalars)
                let k = i < 0 ? i + u.count : i
                if k >= 0 && k < u.count { return .string(String(u[k])) }
            }
        default: break
        }
        if case let .string(name) = key {
            if !name.hasPrefix("_"), let m = try method(obj, name) { return m }
            if case let .namespace(n) = obj, let v = n.attributes[name] { return v }
            return .undefined(JinjaUndefined(message: "'\(obj.objectTypeRepr)' has no attribute '\(name)'"))
        }
        return .undefined(JinjaUndefined(message: "\(obj.objectTypeRepr) has no element \(key.pythonRepr)"))
    }

    private func slice(_ obj: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            guard let i = v.integer else { throw JinjaRuntimeFailure(.type, "slice indices must be integers or None or have an __index__ method") }
            return i
        }
        let (a, b, c) = (try bound(start), try bound(stop), try bound(step))
        switch obj.plain {
        case let .string(s):
            var out = ""
            out.unicodeScalars.append(contentsOf: try pySlice(Array(s.unicodeScalars), a, b, c))
            return .string(out)
        case let .list(l): return .list(try pySlice(l, a, b, c))
        case let .tuple(l): return .tuple(try pySlice(l, a, b, c))
        case let .undefined(u): throw JinjaRuntimeFailure(.undefined, u.message)
        case .dict: throw JinjaRuntimeFailure(.type, "unhashable type: 'slice'")
        default:
            // Slices bypass jinja2's forgiving getitem: Python's own TypeError.
            throw JinjaRuntimeFailure(.type, "'\(obj.typeName)' object is not subscriptable")
        }
    }
}

/// Python's `seq[start:stop:step]`.
func pySlice<T>(_ a: [T], _ start: Int?, _ stop: Int?, _ step: Int?) throws -> [T] {
    let step = step ?? 1
    guard step != 0 else { throw JinjaRuntimeFailure(.value, "slice step cannot be zero") }
    let n = a.count
    func clamp(_ v: Int?, _ def: Int, lo: Int, hi: Int) -> Int {
        guard var v else { return def }
        if v < 0 { v += n }
        return min(max(v, lo), hi)
    }
    var out: [T] = []
    if step > 0 {
        var i = clamp(start, 0, lo: 0, hi: n)
        let end = clamp(stop, n, lo: 0, hi: n)
        while i < end { out.append(a[i]); i += step }
    } else {
        var i = clamp(start, n - 1, lo: -1, hi: n - 1)
        let end = clamp(stop, -1, lo: -1, hi: n - 1)
        while i > end { out.append(a[i]); i += step }
    }
    return out
}

extension JinjaValue {
    /// An int (or bool) as Python would use it as an index or count.
    var integer: Int? {
        switch self {
        case let .int(i): return i
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }
}
