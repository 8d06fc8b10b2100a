// The parser: tokens → syntax tree, with jinja2's grammar and operator precedence
// (loosest first): inline `if … else`, `or`, `and`, `not`, comparisons and `in`, `+ -`,
// `~`, `* / // %`, `**`, unary `- +`, then a primary with its postfixes (`.attr`, `[…]`,
// calls) followed by filters (`|f`) and tests (`is t`). So `-x|abs` filters `-x`, and
// `a ~ b is string` tests `b`.

struct JinjaParser {
    private let tokens: [JinjaToken]
    private var p = 0
    /// Open blocks, innermost last, for "Jinja was looking for …" messages.
    private var openBlocks: [String] = []

    init(tokens: [JinjaToken]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [JinjaNode] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let nodes = try parser.statements(until: [])
        try JinjaNameCheck.check(nodes, soft: false)
        try JinjaNameCheck.checkLoopControls(nodes, inLoop: false)
        return nodes
    }

    // MARK: Token helpers

    private var current: JinjaToken { tokens[p] }
    private var nextToken: JinjaToken { tokens[min(p + 1, tokens.count - 1)] }

    private mutating func advance() -> JinjaToken {
        let t = tokens[p]
        if p < tokens.count - 1 { p += 1 }
        return t
    }

    private func describe(_ t: JinjaToken) -> String {
        switch t.kind {
        case .data: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case let .name(n): return n
        case let .string(s): return pythonStringRepr(s)
        case let .integer(i): return String(i)
        case let .float(d): return pythonFloatRepr(d)
        case let .op(o): return o
        case .eof: return "end of template"
        }
    }

    private func fail(_ message: String, _ t: JinjaToken? = nil) -> JinjaError {
        let t = t ?? current
        return .syntax(message: message, line: t.line, column: t.column)
    }

    private func isOp(_ o: String) -> Bool { current.kind == .op(o) }
    private func isName(_ n: String) -> Bool { current.kind == .name(n) }

    private mutating func skipOp(_ o: String) -> Bool {
        if isOp(o) { _ = advance(); return true }
        return false
    }

    private mutating func skipName(_ n: String) -> Bool {
        if isName(n) { _ = advance(); return true }
        return false
    }

    private mutating func expectOp(_ o: String) throws {
        guard skipOp(o) else { throw fail("expected token '\(o)', got '\(describe(current))'") }
    }

    private mutating func expectName() throws -> String {
        guard case let .name(n) = current.kind else { throw fail("expected token 'name', got '\(describe(current))'") }
        _ = advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else {
            throw fail("expected token 'end of statement block', got '\(describe(current))'")
        }
        _ = advance()
    }

    // MARK: Statements

    /// Parses nodes until a block tag whose name is in `ends` (left unconsumed: the
    /// `{%` is consumed and the name is current) or the end of the template.
    private mutating func statements(until ends: Set<String>) throws -> [JinjaNode] {
        var nodes: [JinjaNode] = []
        while true {
            let t = current
            switch t.kind {
            case .eof:
                if !ends.isEmpty { throw fail(unexpectedEnd(ends)) }
                return nodes
            case let .data(text):
                _ = advance()
                nodes.append(JinjaNode(line: t.line, kind: .text(text)))
            case .variableBegin:
                _ = advance()
                let e = try tuple()
                guard current.kind == .variableEnd else {
                    throw fail("expected token 'end of print statement', got '\(describe(current))'")
                }
                _ = advance()
                nodes.append(JinjaNode(line: t.line, kind: .output(e)))
            case .blockBegin:
                _ = advance()
                guard case let .name(tag) = current.kind else { throw fail("tag name expected") }
                if ends.contains(tag) { return nodes }
                nodes.append(try statement(tag, ends: ends))
            default:
                throw fail("unexpected '\(describe(t))'")
            }
        }
    }

    /// The end tags in the order jinja2's messages list them ('endfor' or 'else').
    static func inJinjaOrder(_ ends: Set<String>) -> [String] {
        let rank = ["endfor": 0, "elif": 1, "else": 2, "endif": 3]
        return ends.sorted { (rank[$0] ?? 9, $0) < (rank[$1] ?? 9, $1) }
    }

    private func unexpectedEnd(_ ends: Set<String>) -> String {
        var m = "Unexpected end of template. Jinja was looking for the following tags: " + JinjaParser.inJinjaOrder(ends).map { "'\($0)'" }.joined(separator: " or ") + "."
        if let b = openBlocks.last { m += " The innermost block that needs to be closed is '\(b)'." }
        return m
    }

    private mutating func statement(_ tag: String, ends: Set<String>) throws -> JinjaNode {
        let line = current.line
        let start = current
        _ = advance()
        switch tag {
        case "if": return JinjaNode(line: line, kind: try ifStatement())
        case "for": return JinjaNode(line: line, kind: try forStatement())
        case "set": return JinjaNode(line: line, kind: try setStatement())
        case "macro":
            let name = try expectName()
            let params = try parameters()
            try expectBlockEnd()
            let body = try block("macro", ends: ["endmacro"])
            return JinjaNode(line: line, kind: .macro(JinjaMacroDefinition(name: name, parameters: params, body: body)))
        case "call":
            let params = isOp("(") ? try parameters() : []
            let callee = try expression()
            guard case .call = callee.kind else { throw fail("expected call", start) }
            try expectBlockEnd()
            let body = try block("call", ends: ["endcall"])
            return JinjaNode(line: line, kind: .callBlock(callee, parameters: params, body: body))
        case "filter":
            let filters = try filterChain(first: true)
            try expectBlockEnd()
            let body = try block("filter", ends: ["endfilter"])
            return JinjaNode(line: line, kind: .filterBlock(filters, body: body))
        case "with":
            var assignments: [(JinjaTarget, JinjaExpr)] = []
            while current.kind != .blockEnd {
                if !assignments.isEmpty { try expectOp(",") }
                let target = try assignTarget(namespace: false)
                try expectOp("=")
                assignments.append((target, try expression()))
            }
            try expectBlockEnd()
            let body = try block("with", ends: ["endwith"])
            return JinjaNode(line: line, kind: .with(assignments, body: body))
        case "generation":
            try expectBlockEnd()
            return JinjaNode(line: line, kind: .generation(try block("generation", ends: ["endgeneration"])))
        case "break", "continue":
            try expectBlockEnd()
            return JinjaNode(line: line, kind: tag == "break" ? .breakLoop : .continueLoop)
        default:
            var m = "Encountered unknown tag '\(tag)'."
            if !ends.isEmpty {
                m += " Jinja was looking for the following tags: " + JinjaParser.inJinjaOrder(ends).map { "'\($0)'" }.joined(separator: " or ") + "."
                if let b = openBlocks.last { m += " The innermost block that needs to be closed is '\(b)'." }
            }
            throw fail(m, start)
        }
    }

    /// The body of a block up to its end tag, which is consumed with its `%}`.
    private mutating func block(_ name: String, ends: Set<String>) throws -> [JinjaNode] {
        openBlocks.append(name)
        defer { openBlocks.removeLast() }
        let body = try statements(until: ends)
        _ = advance()
        try expectBlockEnd()
        return body
    }

    private mutating func ifStatement() throws -> JinjaNode.Kind {
        var branches: [(JinjaExpr, [JinjaNode])] = []
        var otherwise: [JinjaNode]? = nil
        var condition = try tuple()
        try expectBlockEnd()
        openBlocks.append("if")
        defer { openBlocks.removeLast() }
        while true {
            let body = try statements(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            let tag = try expectName()
            if tag == "elif" {
                condition = try tuple()
                try expectBlockEnd()
                continue
            }
            try expectBlockEnd()
            if tag == "else" {
                otherwise = try statements(until: ["endif"])
                _ = advance()
                try expectBlockEnd()
            }
            return .conditional(branches, otherwise: otherwise)
        }
    }

    private mutating func forStatement() throws -> JinjaNode.Kind {
        let target = try assignTarget(namespace: false, names: ["in"])
        guard skipName("in") else { throw fail("expected token 'in', got '\(describe(current))'") }
        let iterable = try tuple(conditional: false)
        var filter: JinjaExpr? = nil
        if skipName("if") { filter = try expression() }
        if skipName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        openBlocks.append("for")
        defer { openBlocks.removeLast() }
        let body = try statements(until: ["endfor", "else"])
        var otherwise: [JinjaNode]? = nil
        if isName("else") {
            _ = advance()
            try expectBlockEnd()
            otherwise = try statements(until: ["endfor"])
        }
        _ = advance()
        try expectBlockEnd()
        return .loop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
    }

    private mutating func setStatement() throws -> JinjaNode.Kind {
        let target = try assignTarget(namespace: true)
        if skipOp("=") {
            let value = try tuple()
            try expectBlockEnd()
            return .set(target, value)
        }
        let filters = isOp("|") ? try filterChain(first: false) : []
        try expectBlockEnd()
        let body = try block("set", ends: ["endset"])
        return .setBlock(target, filters: filters, body: body)
    }

    /// `name`, `a, b`, `(a, b)`, or with `namespace` also `ns.attr`.
    private mutating func assignTarget(namespace: Bool, names: Set<String> = []) throws -> JinjaTarget {
        var items: [JinjaTarget] = []
        var sawComma = false
        var anyComma = false
        repeat {
            if isOp("(") {
                _ = advance()
                let inner = try assignTarget(namespace: false)
                try expectOp(")")
                items.append(inner)
            } else {
                let t = current
                let n = try expectName()
                if ["true", "false", "none", "True", "False", "None"].contains(n) { throw fail("can't assign to '\(n)'", t) }
                if namespace, skipOp(".") {
                    items.append(.attribute(n, try expectName()))
                } else {
                    items.append(.name(n))
                }
            }
            sawComma = skipOp(",")
            anyComma = anyComma || sawComma
        } while sawComma && !(current.kind == .blockEnd || isOp("=") || { if case let .name(n) = current.kind { return names.contains(n) } else { return false } }())
        return items.count == 1 && !anyComma ? items[0] : .tuple(items)
    }

    /// `(a, b=default, …)` of a macro or a call block.
    private mutating func parameters() throws -> [(String, JinjaExpr?)] {
        try expectOp("(")
        var params: [(String, JinjaExpr?)] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let t = current
            let name = try expectName()
            var value: JinjaExpr? = nil
            if skipOp("=") { value = try expression() } else if params.contains(where: { $0.1 != nil }) {
                throw fail("non-default argument follows default argument", t)
            }
            params.append((name, value))
        }
        _ = advance()
        return params
    }

    private mutating func filterChain(first: Bool) throws -> [JinjaFilterCall] {
        var filters: [JinjaFilterCall] = []
        var needPipe = !first
        while true {
            if needPipe { guard skipOp("|") else { break } }
            needPipe = true
            let line = current.line
            let name = try filterName()
            let args = isOp("(") ? try callArguments() : JinjaCallArguments()
            filters.append(JinjaFilterCall(name: name, arguments: args, line: line))
        }
        return filters
    }

    private mutating func filterName() throws -> String { try dottedName() }

    private mutating func dottedName() throws -> String {
        var name = try expectName()
        while isOp("."), case .name = nextToken.kind {
            _ = advance()
            name += "." + (try expectName())
        }
        return name
    }

    // MARK: Expressions

    /// An expression, or a tuple when commas follow (`{{ a, b }}`, `for x in a, b`).
    private mutating func tuple(conditional: Bool = true) throws -> JinjaExpr {
        let line = current.line
        var items: [JinjaExpr] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard skipOp(",") else { break }
                sawComma = true
                if current.kind == .blockEnd || current.kind == .variableEnd || isOp(")") || isOp("=") { break }
                if case .name("if") = current.kind, !conditional { break }
            }
            items.append(conditional ? try expression() : try orExpression())
        }
        if items.count == 1 && !sawComma { return items[0] }
        return JinjaExpr(line: line, kind: .tuple(items))
    }

    mutating func expression() throws -> JinjaExpr {
        var e = try orExpression()
        while isName("if") {
            let line = current.line
            _ = advance()
            let condition = try orExpression()
            var otherwise: JinjaExpr? = nil
            if skipName("else") { otherwise = try expression() }
            e = JinjaExpr(line: line, kind: .conditional(then: e, condition: condition, otherwise: otherwise))
        }
        return e
    }

    private mutating func orExpression() throws -> JinjaExpr {
        var e = try andExpression()
        while isName("or") {
            let line = advance().line
            e = JinjaExpr(line: line, kind: .binary("or", e, try andExpression()))
        }
        return e
    }

    private mutating func andExpression() throws -> JinjaExpr {
        var e = try notExpression()
        while isName("and") {
            let line = advance().line
            e = JinjaExpr(line: line, kind: .binary("and", e, try notExpression()))
        }
        return e
    }

    private mutating func notExpression() throws -> JinjaExpr {
        if isName("not") {
            let line = advance().line
            return JinjaExpr(line: line, kind: .not(try notExpression()))
        }
        return try comparison()
    }

    private mutating func comparison() throws -> JinjaExpr {
        let line = current.line
        let first = try additive()
        var ops: [(String, JinjaExpr)] = []
        while true {
            if case let .op(o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                _ = advance()
                ops.append((o, try additive()))
            } else if isName("in") {
                _ = advance()
                ops.append(("in", try additive()))
            } else if isName("not"), nextToken.kind == .name("in") {
                _ = advance(); _ = advance()
                ops.append(("notin", try additive()))
            } else { break }
        }
        return ops.isEmpty ? first : JinjaExpr(line: line, kind: .compare(first, ops))
    }

    private mutating func additive() throws -> JinjaExpr {
        var e = try concatenation()
        while isOp("+") || isOp("-") {
            let t = advance()
            guard case let .op(o) = t.kind else { break }
            e = JinjaExpr(line: t.line, kind: .binary(o, e, try concatenation()))
        }
        return e
    }

    private mutating func concatenation() throws -> JinjaExpr {
        var e = try multiplicative()
        while isOp("~") {
            let line = advance().line
            e = JinjaExpr(line: line, kind: .binary("~", e, try multiplicative()))
        }
        return e
    }

    private mutating func multiplicative() throws -> JinjaExpr {
        var e = try power()
        while isOp("*") || isOp("/") || isOp("//") || isOp("%") {
            let t = advance()
            guard case let .op(o) = t.kind else { break }
            e = JinjaExpr(line: t.line, kind: .binary(o, e, try power()))
        }
        return e
    }

    private mutating func power() throws -> JinjaExpr {
        var e = try unary(filters: true)
        while isOp("**") {
            let line = advance().line
            e = JinjaExpr(line: line, kind: .binary("**", e, try unary(filters: true)))
        }
        return e
    }

    private mutating func unary(filters: Bool) throws -> JinjaExpr {
        let line = current.line
        var e: JinjaExpr
        if skipOp("-") {
            e = JinjaExpr(line: line, kind: .negate(try unary(filters: false)))
        } else if skipOp("+") {
            e = JinjaExpr(line: line, kind: .plus(try unary(filters: false)))
        } else {
            e = try primary()
        }
        e = try postfix(e)
        if filters { e = try filtersAndTests(e) }
        return e
    }

    private mutating func primary() throws -> JinjaExpr {
        let t = current
        switch t.kind {
        case let .name(n):
            _ = advance()
            switch n {
            case "true", "True": return JinjaExpr(line: t.line, kind: .literal(.bool(true)))
            case "false", "False": return JinjaExpr(line: t.line, kind: .literal(.bool(false)))
            case "none", "None": return JinjaExpr(line: t.line, kind: .literal(.none))
            default: return JinjaExpr(line: t.line, kind: .name(n))
            }
        case var .string(s):
            _ = advance()
            while case let .string(more) = current.kind { s += more; _ = advance() }
            return JinjaExpr(line: t.line, kind: .literal(.string(s)))
        case let .integer(i):
            _ = advance()
            return JinjaExpr(line: t.line, kind: .literal(.int(i)))
        case let .float(d):
            _ = advance()
            return JinjaExpr(line: t.line, kind: .literal(.double(d)))
        case .op("("):
            _ = advance()
            if skipOp(")") { return JinjaExpr(line: t.line, kind: .tuple([])) }
            var items = [try expression()]
            var sawComma = false
            while skipOp(",") {
                sawComma = true
                if isOp(")") { break }
                items.append(try expression())
            }
            try expectOp(")")
            return items.count == 1 && !sawComma ? items[0] : JinjaExpr(line: t.line, kind: .tuple(items))
        case .op("["):
            _ = advance()
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try expression())
            }
            _ = advance()
            return JinjaExpr(line: t.line, kind: .list(items))
        case .op("{"):
            _ = advance()
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let k = try expression()
                try expectOp(":")
                pairs.append((k, try expression()))
            }
            _ = advance()
            return JinjaExpr(line: t.line, kind: .dict(pairs))
        case .eof:
            throw fail("unexpected end of template")
        default:
            throw fail("unexpected '\(describe(t))'")
        }
    }

    private mutating func postfix(_ start: JinjaExpr) throws -> JinjaExpr {
        var e = start
        while true {
            let line = current.line
            if isOp(".") {
                _ = advance()
                switch current.kind {
                case let .name(n):
                    _ = advance()
                    e = JinjaExpr(line: line, kind: .attribute(e, n))
                case let .integer(i):
                    _ = advance()
                    e = JinjaExpr(line: line, kind: .index(e, JinjaExpr(line: line, kind: .literal(.int(i)))))
                default:
                    throw fail("expected name or number")
                }
            } else if isOp("[") {
                _ = advance()
                let index = try subscriptIndex()
                try expectOp("]")
                e = JinjaExpr(line: line, kind: .index(e, index))
            } else if isOp("(") {
                e = JinjaExpr(line: line, kind: .call(e, try callArguments()))
            } else {
                return e
            }
        }
    }

    private mutating func subscriptIndex() throws -> JinjaExpr {
        let line = current.line
        var parts: [JinjaExpr?] = []
        if isOp(":") {
            parts.append(nil)
        } else {
            let e = try expression()
            if !isOp(":") { return e }
            parts.append(e)
        }
        _ = advance()  // the first ':'
        parts.append(isOp(":") || isOp("]") ? nil : try expression())
        if skipOp(":") {
            parts.append(isOp("]") ? nil : try expression())
        } else {
            parts.append(nil)
        }
        return JinjaExpr(line: line, kind: .slice(parts[0], parts[1], parts[2]))
    }

    private mutating func callArguments() throws -> JinjaCallArguments {
        try expectOp("(")
        var args = JinjaCallArguments()
        var first = true
        while !isOp(")") {
            if !first { try expectOp(",") }
            first = false
            if isOp(")") { break }
            if skipOp("*") { args.spreadPositional = try expression(); continue }
            if skipOp("**") { args.spreadKeywords = try expression(); continue }
            if case let .name(n) = current.kind, nextToken.kind == .op("=") {
                _ = advance(); _ = advance()
                args.keywords.append((n, try expression()))
            } else {
                if !args.keywords.isEmpty { throw fail("invalid syntax for function call expression") }
                args.positional.append(try expression())
            }
        }
        _ = advance()
        return args
    }

    private mutating func filtersAndTests(_ start: JinjaExpr) throws -> JinjaExpr {
        var e = start
        while true {
            let line = current.line
            if isOp("|") {
                _ = advance()
                let name = try filterName()
                let args = isOp("(") ? try callArguments() : JinjaCallArguments()
                e = JinjaExpr(line: line, kind: .filter(e, name: name, args))
            } else if isName("is") {
                _ = advance()
                let negated = skipName("not")
                let name = try dottedName()
                var args = JinjaCallArguments()
                if isOp("(") {
                    args = try callArguments()
                } else {
                    switch current.kind {
                    case .name("else"), .name("or"), .name("and"): break
                    case .name("is"): throw fail("You cannot chain multiple tests with is")
                    case .name, .string, .integer, .float, .op("("), .op("["), .op("{"):
                        args.positional = [try postfix(try primary())]
                    default: break
                    }
                }
                e = JinjaExpr(line: line, kind: .test(e, name: name, args, negated: negated))
            } else if isOp("(") {
                e = JinjaExpr(line: line, kind: .call(e, try callArguments()))
            } else {
                return e
            }
        }
    }
}

/// jinja2's compile-time check of filter and test names: an unknown name is an error
/// (TemplateAssertionError) unless it sits directly in an `if` statement or an inline
/// `if … else`, where jinja2 waits until the expression is evaluated ("soft" frames: a
/// template may guard a filter it is not sure exists). Loops, macros, call, filter, with
/// and set blocks open non-soft frames again.
enum JinjaNameCheck {
    /// `break` and `continue` belong to a loop of the same macro: jinja2 compiles templates to
    /// Python, which refuses them elsewhere.
    static func checkLoopControls(_ nodes: [JinjaNode], inLoop: Bool) throws {
        for n in nodes {
            switch n.kind {
            case .breakLoop, .continueLoop:
                if !inLoop {
                    let isBreak: Bool = { if case .breakLoop = n.kind { return true } else { return false } }()
                    throw JinjaError.syntax(message: isBreak ? "'break' outside loop" : "'continue' not properly in loop", line: n.line, column: 1)
                }
            case let .conditional(branches, otherwise):
                for (_, body) in branches { try checkLoopControls(body, inLoop: inLoop) }
                if let otherwise { try checkLoopControls(otherwise, inLoop: inLoop) }
            case let .loop(_, _, _, body, otherwise):
                try checkLoopControls(body, inLoop: true)
                if let otherwise { try checkLoopControls(otherwise, inLoop: inLoop) }
            case let .macro(m): try checkLoopControls(m.body, inLoop: false)
            case let .callBlock(_, _, body): try checkLoopControls(body, inLoop: false)
            case let .setBlock(_, _, body), let .filterBlock(_, body), let .with(_, body), let .generation(body):
                try checkLoopControls(body, inLoop: inLoop)
            case .text, .output, .set: break
            }
        }
    }

    /// The names a frame's body stores before reading them (jinja2's idtracking): walked in
    /// order at the frame's own level (inner frames do not count); a name assigned in only some
    /// branches of an `if` is initialized from outside instead, so it is not unbound.
    static func frameSymbols(_ nodes: [JinjaNode]) -> (storedFirst: Set<String>, referenced: Set<String>) {
        var seen = Set<String>()
        var unbound = Set<String>()
        func load(_ e: JinjaExpr?) {
            guard let e else { return }
            seen.formUnion(referencedNames([JinjaNode(line: e.line, kind: .output(e))]))
        }
        func store(_ t: JinjaTarget) {
            if case let .attribute(n, _) = t { seen.insert(n); return }
            for n in targetNames(t) where !seen.contains(n) {
                unbound.insert(n)
                seen.insert(n)
            }
        }
        /// Walks nodes; returns the names they store (for branch bookkeeping).
        func walk(_ nodes: [JinjaNode]) -> Set<String> {
            var stored = Set<String>()
            for n in nodes {
                switch n.kind {
                case .text, .breakLoop, .continueLoop: break
                case let .output(e): load(e)
                case let .set(t, e):
                    load(e); store(t); stored.formUnion(targetNames(t))
                case let .setBlock(t, filters, _):
                    for f in filters { f.arguments.positional.forEach(load); f.arguments.keywords.forEach { load($0.1) } }
                    store(t); stored.formUnion(targetNames(t))
                case let .macro(m):
                    store(.name(m.name)); stored.insert(m.name)
                case let .callBlock(callee, _, _): load(callee)
                case let .filterBlock(filters, _):
                    for f in filters { f.arguments.positional.forEach(load); f.arguments.keywords.forEach { load($0.1) } }
                case let .with(assignments, _): assignments.forEach { load($0.1) }
                case .generation: break
                case let .loop(_, iterable, _, _, _): load(iterable)
                case let .conditional(branches, otherwise):
                    let before = seen
                    var branchStores: [Set<String>] = []
                    var firstStores = Set<String>()
                    var firstLoads = Set<String>()
                    // Each branch starts from what was seen before it (and the conditions
                    // tested so far), not from what another branch saw.
                    var base = seen
                    var allSeen = seen
                    func branch(_ body: [JinjaNode]) {
                        seen = base
                        let savedUnbound = unbound
                        branchStores.append(walk(body))
                        let newUnbound = unbound.subtracting(savedUnbound)
                        firstStores.formUnion(newUnbound)
                        firstLoads.formUnion(seen.subtracting(base).subtracting(newUnbound))
                        allSeen.formUnion(seen)
                        unbound = savedUnbound
                    }
                    for (c, body) in branches {
                        seen = base
                        load(c)
                        base = seen
                        allSeen.formUnion(seen)
                        branch(body)
                    }
                    branch(otherwise ?? [])
                    seen = allSeen
                    // Unset until assigned only when every branch assigns it and none reads
                    // it first (jinja2 merges the branches' symbols; a read initializes it).
                    let everywhere = branchStores.dropFirst().reduce(branchStores[0]) { $0.intersection($1) }
                    for name in firstStores where everywhere.contains(name) && !before.contains(name) && !firstLoads.contains(name) {
                        unbound.insert(name)
                    }
                    for s in branchStores { stored.formUnion(s) }
                }
            }
            return stored
        }
        _ = walk(nodes)
        return (unbound, seen)
    }

    static func targetNames(_ t: JinjaTarget) -> [String] {
        switch t {
        case let .name(n): return [n]
        case let .tuple(items): return items.flatMap(targetNames)
        case .attribute: return []
        }
    }

    /// Every variable name read anywhere in these nodes (nested blocks and macros included).
    static func referencedNames(_ nodes: [JinjaNode]) -> Set<String> {
        var names = Set<String>()
        func visit(_ e: JinjaExpr?) {
            guard let e else { return }
            switch e.kind {
            case .literal: break
            case let .name(n): names.insert(n)
            case let .list(items), let .tuple(items): items.forEach(visit)
            case let .dict(pairs): pairs.forEach { visit($0.0); visit($0.1) }
            case let .attribute(o, _): visit(o)
            case let .index(o, i): visit(o); visit(i)
            case let .slice(a, b, c): visit(a); visit(b); visit(c)
            case let .call(f, args): visit(f); visitArgs(args)
            case let .filter(v, _, args), let .test(v, _, args, _): visit(v); visitArgs(args)
            case let .not(x), let .negate(x), let .plus(x): visit(x)
            case let .binary(_, l, r): visit(l); visit(r)
            case let .compare(first, ops): visit(first); ops.forEach { visit($0.1) }
            case let .conditional(then, condition, otherwise): visit(then); visit(condition); visit(otherwise)
            }
        }
        func visitArgs(_ a: JinjaCallArguments) {
            a.positional.forEach(visit); a.keywords.forEach { visit($0.1) }; visit(a.spreadPositional); visit(a.spreadKeywords)
        }
        func walk(_ nodes: [JinjaNode]) {
            for n in nodes {
                switch n.kind {
                case .text, .breakLoop, .continueLoop: break
                case let .output(e), let .set(_, e): visit(e)
                case let .conditional(branches, otherwise):
                    for (c, body) in branches { visit(c); walk(body) }
                    if let otherwise { walk(otherwise) }
                case let .loop(_, iterable, filter, body, otherwise):
                    visit(iterable); visit(filter); walk(body)
                    if let otherwise { walk(otherwise) }
                case let .setBlock(_, filters, body), let .filterBlock(filters, body):
                    filters.forEach { visitArgs($0.arguments) }; walk(body)
                case let .macro(m): m.parameters.forEach { visit($0.1) }; walk(m.body)
                case let .callBlock(callee, parameters, body): visit(callee); parameters.forEach { visit($0.1) }; walk(body)
                case let .with(assignments, body): assignments.forEach { visit($0.1) }; walk(body)
                case let .generation(body): walk(body)
                }
            }
        }
        walk(nodes)
        return names
    }

    static func check(_ nodes: [JinjaNode], soft: Bool) throws {
        for n in nodes {
            switch n.kind {
            case .text, .breakLoop, .continueLoop: break
            case let .output(e): try check(e, soft)
            case let .conditional(branches, otherwise):
                for (c, body) in branches {
                    try check(c, true)
                    try check(body, soft: true)
                }
                if let otherwise { try check(otherwise, soft: true) }
            case let .loop(_, iterable, filter, body, otherwise):
                try check(iterable, soft)
                if let filter { try check(filter, false) }
                try check(body, soft: false)
                if let otherwise { try check(otherwise, soft: false) }
            case let .set(_, e): try check(e, soft)
            case let .setBlock(_, filters, body):
                try check(body, soft: false)
                try checkFilters(filters, soft)
            case let .macro(m):
                for (_, d) in m.parameters { if let d { try check(d, false) } }
                try check(m.body, soft: false)
            case let .callBlock(callee, parameters, body):
                try check(callee, soft)
                for (_, d) in parameters { if let d { try check(d, false) } }
                try check(body, soft: false)
            case let .filterBlock(filters, body):
                try checkFilters(filters, soft)
                try check(body, soft: false)
            case let .with(assignments, body):
                for (_, e) in assignments { try check(e, soft) }
                try check(body, soft: false)
            case let .generation(body): try check(body, soft: false)
            }
        }
    }

    private static func checkFilters(_ filters: [JinjaFilterCall], _ soft: Bool) throws {
        for f in filters {
            if !soft && !JinjaInterpreter.filterNames.contains(f.name) {
                throw JinjaError.assertion(message: "No filter named '\(f.name)'.", line: f.line)
            }
            try check(f.arguments, soft)
        }
    }

    private static func check(_ a: JinjaCallArguments, _ soft: Bool) throws {
        for e in a.positional { try check(e, soft) }
        for (_, e) in a.keywords { try check(e, soft) }
        for e in [a.spreadPositional, a.spreadKeywords] { if let e { try check(e, soft) } }
    }

    private static func check(_ e: JinjaExpr, _ soft: Bool) throws {
        switch e.kind {
        case .literal, .name: break
        case let .list(items), let .tuple(items): for i in items { try check(i, soft) }
        case let .dict(pairs): for (k, v) in pairs { try check(k, soft); try check(v, soft) }
        case let .attribute(o, _): try check(o, soft)
        case let .index(o, i): try check(o, soft); try check(i, soft)
        case let .slice(a, b, c): for x in [a, b, c] { if let x { try check(x, soft) } }
        case let .call(f, args): try check(f, soft); try check(args, soft)
        case let .filter(v, name, args):
            if !soft && !JinjaInterpreter.filterNames.contains(name) {
                throw JinjaError.assertion(message: "No filter named '\(name)'.", line: e.line)
            }
            try check(v, soft); try check(args, soft)
        case let .test(v, name, args, _):
            if !soft && !JinjaInterpreter.testNames.contains(name) {
                throw JinjaError.assertion(message: "No test named '\(name)'.", line: e.line)
            }
            try check(v, soft); try check(args, soft)
        case let .not(x), let .negate(x), let .plus(x): try check(x, soft)
        case let .binary(_, l, r): try check(l, soft); try check(r, soft)
        case let .compare(first, ops): try check(first, soft); for (_, x) in ops { try check(x, soft) }
        case let .conditional(then, condition, otherwise):
            try check(then, true); try check(condition, true)
            if let otherwise { try check(otherwise, true) }
        }
    }
}
