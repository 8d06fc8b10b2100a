/// A template that cannot be parsed or that raised while rendering. The description reads
/// like jinja2's (`UndefinedError: 'functions' is undefined`) followed by where in the
/// template it happened, so that a user can compare it with what Python prints.
public enum JinjaError: Error, CustomStringConvertible, Equatable {
    /// The template source is not valid Jinja: what was found, what was expected, and where.
    case syntax(message: String, line: Int, column: Int)
    /// A filter or test name that does not exist (jinja2's TemplateAssertionError, raised
    /// when the template is compiled).
    case assertion(message: String, line: Int)
    /// Rendering raised: `kind` is the Python exception's name (`UndefinedError`, `TypeError`,
    /// `TemplateError` for `raise_exception`, `SecurityError`, …); `line` is the template line
    /// of the statement or expression being evaluated.
    case runtime(kind: String, message: String, line: Int)

    /// jinja2's own text: "ExceptionName: message", without the location.
    public var pythonText: String {
        switch self {
        case let .syntax(message, _, _): return "TemplateSyntaxError: \(message)"
        case let .assertion(message, _): return "TemplateAssertionError: \(message)"
        case let .runtime(kind, message, _): return "\(kind): \(message)"
        }
    }

    public var description: String {
        switch self {
        case let .syntax(_, line, column): return "\(pythonText) (template line \(line), column \(column))"
        case let .assertion(_, line), let .runtime(_, _, line): return "\(pythonText) (template line \(line))"
        }
    }
}

/// A failure inside a builtin, before the interpreter attaches the template line.
struct JinjaRuntimeFailure: Error {
    enum Kind: String {
        case undefined = "UndefinedError"
        case type = "TypeError"
        case attribute = "AttributeError"
        case value = "ValueError"
        case raised = "TemplateError"
        case runtime = "TemplateRuntimeError"
        case security = "SecurityError"
        case zeroDivision = "ZeroDivisionError"
        case index = "IndexError"
        case filterArgument = "FilterArgumentError"
    }
    let kind: Kind
    let message: String
    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
