// The syntax tree the parser builds and the interpreter walks. Every node keeps the
// template line it came from, for error messages.

struct JinjaExpr {
    let line: Int
    let kind: Kind

    indirect enum Kind {
        case literal(JinjaValue)
        case name(String)
        case list([JinjaExpr])
        case tuple([JinjaExpr])
        case dict([(JinjaExpr, JinjaExpr)])
        case attribute(JinjaExpr, String)
        case index(JinjaExpr, JinjaExpr)
        /// Only as a subscript's index: `[start:stop:step]`, each part optional.
        case slice(JinjaExpr?, JinjaExpr?, JinjaExpr?)
        case call(JinjaExpr, JinjaCallArguments)
        case filter(JinjaExpr, name: String, JinjaCallArguments)
        case test(JinjaExpr, name: String, JinjaCallArguments, negated: Bool)
        case not(JinjaExpr)
        case negate(JinjaExpr)
        case plus(JinjaExpr)
        /// `+ - * / // % ** ~ and or`.
        case binary(String, JinjaExpr, JinjaExpr)
        /// A comparison chain: `a < b <= c`, operators `== != < <= > >= in notin`.
        case compare(JinjaExpr, [(String, JinjaExpr)])
        /// `then if condition else otherwise`; a missing else gives Undefined.
        case conditional(then: JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
    }
}

struct JinjaCallArguments {
    var positional: [JinjaExpr] = []
    var keywords: [(String, JinjaExpr)] = []
    /// `*iterable` and `**mapping` in a call.
    var spreadPositional: JinjaExpr? = nil
    var spreadKeywords: JinjaExpr? = nil
}

/// What `set`, `for` and `with` assign to.
indirect enum JinjaTarget {
    case name(String)
    case tuple([JinjaTarget])
    /// `set ns.attr = …`: only namespaces accept it.
    case attribute(String, String)
}

struct JinjaFilterCall {
    let name: String
    let arguments: JinjaCallArguments
    let line: Int
}

struct JinjaMacroDefinition {
    let name: String
    let parameters: [(String, JinjaExpr?)]
    let body: [JinjaNode]
}

struct JinjaNode {
    let line: Int
    let kind: Kind

    indirect enum Kind {
        case text(String)
        case output(JinjaExpr)
        case conditional([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode]?)
        case loop(target: JinjaTarget, iterable: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode]?)
        case set(JinjaTarget, JinjaExpr)
        case setBlock(JinjaTarget, filters: [JinjaFilterCall], body: [JinjaNode])
        case macro(JinjaMacroDefinition)
        /// `{% call(params) callee(args) %}body{% endcall %}`: the body becomes `caller`.
        case callBlock(JinjaExpr, parameters: [(String, JinjaExpr?)], body: [JinjaNode])
        case filterBlock([JinjaFilterCall], body: [JinjaNode])
        case with([(JinjaTarget, JinjaExpr)], body: [JinjaNode])
        /// HF's `{% generation %}`: marks assistant text; renders its body unchanged.
        case generation([JinjaNode])
        case breakLoop
        case continueLoop
    }
}
