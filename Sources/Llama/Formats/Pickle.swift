// Restricted unpickler for the `data.pkl` that torch.save writes for a state dict.
//
// A pickle is a program for a stack machine. torch.save (protocol 2) writes, for each tensor:
//
//   key                         BINUNICODE 'layers.0.attention.wq.weight'
//   callable                    GLOBAL 'torch._utils _rebuild_tensor_v2'
//   args = (                    MARK
//     persistent storage id       MARK 'storage' GLOBAL 'torch BFloat16Storage' '<key>' 'cpu' numel TUPLE BINPERSID
//     storage offset              BININT…           (in elements)
//     size                        (rows, cols) TUPLE2
//     stride                      (cols, 1) TUPLE2
//     requires_grad               NEWFALSE
//     backward hooks              GLOBAL 'collections OrderedDict' EMPTY_TUPLE REDUCE
//   )                           TUPLE
//   REDUCE, then SETITEMS into the top EMPTY_DICT, with BINPUT/BINGET memoizing repeats.
//
// This reader interprets only those opcodes (plus their close relatives: the other integer
// and tuple forms, SHORT_BINUNICODE, LONG_BINPUT/GET, MEMOIZE, FRAME, STACK_GLOBAL, lists,
// SETITEM, BUILD on a dict) and resolves only these globals, to inert descriptions:
//   torch._utils._rebuild_tensor_v2          → a tensor description (storage, offset, shape, stride)
//   torch.{BFloat16,Half,Float}Storage       → the element type of a storage
//   collections.OrderedDict                  → an empty dict
// Nothing is ever imported, called or executed. Any other opcode or global is refused
// with the file, the byte offset and the opcode or global named. Nesting is bounded so a
// hostile file cannot exhaust the stack.

/// Why a pickle could not be read, or was refused.
public enum PickleError: Error, CustomStringConvertible, Equatable {
    case malformed(path: String, offset: Int, message: String)
    case unsupportedOpcode(path: String, offset: Int, opcode: UInt8)
    case forbiddenGlobal(path: String, offset: Int, module: String, name: String)

    public var description: String {
        switch self {
        case let .malformed(path, offset, message):
            return "\(path): pickle at byte offset \(offset): \(message)"
        case let .unsupportedOpcode(path, offset, opcode):
            let printable = opcode >= 0x20 && opcode < 0x7f ? " '\(Character(UnicodeScalar(opcode)))'" : ""
            return "\(path): pickle at byte offset \(offset): opcode 0x\(String(opcode, radix: 16))\(printable) is not one torch.save uses for a state dict; refused"
        case let .forbiddenGlobal(path, offset, module, name):
            return "\(path): pickle at byte offset \(offset): global \(module).\(name) is not allowed (only torch._utils._rebuild_tensor_v2, torch.BFloat16Storage/HalfStorage/FloatStorage and collections.OrderedDict); refused"
        }
    }
}

/// A storage a tensor points into: `archive/data/<key>`, `count` elements of `type`.
public struct TorchStorageRef: Sendable, Equatable {
    /// Element type, from the storage class (`torch.BFloat16Storage` → `.bf16`).
    public let type: GGMLType
    /// The storage's file name under `data/`.
    public let key: String
    /// Device it was saved from (`cpu`, `cuda:0`); informational.
    public let location: String
    /// Number of elements in the storage.
    public let count: Int
}

/// A tensor as `_rebuild_tensor_v2` would build it, without building it.
public struct TorchTensorRef: Sendable, Equatable {
    /// The storage the tensor views.
    public let storage: TorchStorageRef
    /// Offset into the storage, in elements.
    public let storageOffset: Int
    /// Dimensions, PyTorch order.
    public let shape: [Int]
    /// Element strides per dimension.
    public let stride: [Int]
}

/// The values the restricted machine can hold. Lists and dicts are boxes because pickles
/// mutate them after memoizing them.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case string(String)
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    case global(PickleGlobal)
    case storage(TorchStorageRef)
    case tensor(TorchTensorRef)

    var depth: Int {
        switch self {
        case let .tuple(t): return t.depth
        case let .list(l): return l.depth
        case let .dict(d): return d.depth
        default: return 0
        }
    }

    var isBox: Bool {
        switch self {
        case .list, .dict: return true
        default: return false
        }
    }

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .string: return "str"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

enum PickleGlobal: Equatable {
    case rebuildTensorV2
    case orderedDict
    case storageType(GGMLType)
}

final class PickleTuple {
    let items: [PickleValue]
    let depth: Int
    init(_ items: [PickleValue]) {
        self.items = items
        depth = 1 + (items.map(\.depth).max() ?? 0)
    }
}

final class PickleList {
    var items: [PickleValue] = []
    var depth = 1
}

final class PickleDict {
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    var depth = 1
}

/// Reads the state dict of a torch.save pickle.
public enum TorchPickle {
    static let maxDepth = 32

    /// The (name, tensor) entries of the top-level dict, in file order. Entries whose value is
    /// not a tensor are skipped. `path` names the file in errors.
    public static func loadStateDict(_ bytes: UnsafeRawBufferPointer, path: String) throws -> [(String, TorchTensorRef)] {
        let top = try run(bytes, path: path)
        guard case let .dict(d) = top else {
            throw PickleError.malformed(path: path, offset: 0, message: "the pickled object is a \(top.kind), expected a dict of tensors")
        }
        var out: [(String, TorchTensorRef)] = []
        for (k, v) in zip(d.keys, d.values) {
            guard case let .string(name) = k else {
                throw PickleError.malformed(path: path, offset: 0, message: "state dict key is a \(k.kind), expected a string")
            }
            if case let .tensor(t) = v { out.append((name, t)) }
        }
        return out
    }

    /// Runs the restricted machine and returns the value STOP leaves.
    static func run(_ bytes: UnsafeRawBufferPointer, path: String) throws -> PickleValue {
        var r = ByteReader(bytes)
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]
        var opOffset = 0

        func fail(_ message: String) -> PickleError { .malformed(path: path, offset: opOffset, message: message) }
        // What the machine may allocate, counted cumulatively (values pushed, list and dict
        // slots, memo entries, in rough bytes): a state dict's pickle builds a few times its
        // own size, while one of `EMPTY_TUPLE APPEND` pairs would build ~40× (2 bytes each).
        let limit = (16 << 20) + 8 * bytes.count
        var budget = limit
        func charge(_ n: Int) throws {
            budget -= n
            guard budget >= 0 else {
                throw fail("the pickle builds more than \(limit >> 20) MiB of objects from a \(bytes.count)-byte file, far more than a state dict needs; refused")
            }
        }
        func pop() throws -> PickleValue {
            guard let v = stack.popLast() else { throw fail("stack underflow") }
            return v
        }
        func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast() else { throw fail("no MARK on the stack") }
            guard m <= stack.count else { throw fail("MARK lies above the stack") }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }
        func push(_ v: PickleValue) throws {
            guard v.depth <= maxDepth else { throw fail("values nested more than \(maxDepth) deep") }
            switch v {
            case let .tuple(t): try charge(72 + 16 * t.items.count)
            case let .string(s): try charge(40 + s.utf8.count)
            case .list, .dict, .storage, .tensor: try charge(88)
            default: try charge(24)
            }
            guard stack.count < 1 << 20 else { throw fail("stack grows beyond 2^20 entries") }
            stack.append(v)
        }
        func tuple(_ items: [PickleValue]) throws -> PickleValue {
            let t = PickleTuple(items)
            guard t.depth <= maxDepth else { throw fail("tuples nested more than \(maxDepth) deep") }
            return .tuple(t)
        }
        func checkInsert(_ v: PickleValue) throws {
            // Containers inside lists or dicts could later grow without bound (or form cycles)
            // through the memo; a state dict never needs them there.
            guard !v.isBox else { throw fail("a list or dict inside a list or dict is not supported") }
        }
        func resolve(_ module: String, _ name: String) throws -> PickleGlobal {
            switch (module, name) {
            case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
            case ("collections", "OrderedDict"): return .orderedDict
            case ("torch", "BFloat16Storage"): return .storageType(.bf16)
            case ("torch", "HalfStorage"): return .storageType(.f16)
            case ("torch", "FloatStorage"): return .storageType(.f32)
            default: throw PickleError.forbiddenGlobal(path: path, offset: opOffset, module: module, name: name)
            }
        }
        func line(_ what: String) throws -> String {
            var bytesOfLine: [UInt8] = []
            while true {
                let b = try r.read(UInt8.self, what)
                if b == 0x0A { break }
                guard bytesOfLine.count < 256 else { throw fail("\(what) is longer than 256 bytes") }
                bytesOfLine.append(b)
            }
            return String(decoding: bytesOfLine, as: UTF8.self)
        }
        func setItems(_ dictValue: PickleValue, _ items: [PickleValue]) throws {
            guard case let .dict(d) = dictValue else { throw fail("SETITEM(S) target is a \(dictValue.kind), expected a dict") }
            guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
            var i = 0
            while i < items.count {
                try checkInsert(items[i + 1])
                try charge(32)
                if case .string = items[i] {} else { throw fail("dict key is a \(items[i].kind), expected a string") }
                d.keys.append(items[i])
                d.values.append(items[i + 1])
                d.depth = max(d.depth, 1 + items[i + 1].depth)
                i += 2
            }
        }
        func int(_ v: PickleValue, _ what: String) throws -> Int {
            guard case let .int(i) = v else { throw fail("\(what) is a \(v.kind), expected an int") }
            return i
        }
        func ints(_ v: PickleValue, _ what: String) throws -> [Int] {
            guard case let .tuple(t) = v else { throw fail("\(what) is a \(v.kind), expected a tuple of ints") }
            return try t.items.map { try int($0, what) }
        }
        func string(_ v: PickleValue, _ what: String) throws -> String {
            guard case let .string(s) = v else { throw fail("\(what) is a \(v.kind), expected a str") }
            return s
        }

        do {
            while true {
                opOffset = r.offset
                let op = try r.read(UInt8.self, "opcode")
                switch op {
                case 0x80:  // PROTO
                    let v = try r.read(UInt8.self, "protocol version")
                    guard v >= 2, v <= 5 else { throw fail("pickle protocol \(v) is not supported (expected 2 to 5)") }
                case 0x95:  // FRAME: a length hint only
                    try r.skip(8, "frame length")
                case 0x2E:  // STOP
                    let v = try pop()
                    return v
                case 0x7D: try push(.dict(PickleDict()))  // EMPTY_DICT
                case 0x5D: try push(.list(PickleList()))  // EMPTY_LIST
                case 0x29: try push(try tuple([]))  // EMPTY_TUPLE
                case 0x28:  // MARK
                    guard marks.count < 1 << 16 else { throw fail("too many nested MARKs") }
                    marks.append(stack.count)
                case 0x58:  // BINUNICODE
                    let n = try r.read(UInt32.self, "string length")
                    try push(.string(try r.readString(Int(n), "string")))
                case 0x8C:  // SHORT_BINUNICODE
                    let n = try r.read(UInt8.self, "string length")
                    try push(.string(try r.readString(Int(n), "string")))
                case 0x71:  // BINPUT
                    let i = Int(try r.read(UInt8.self, "memo index"))
                    guard let top = stack.last else { throw fail("BINPUT on an empty stack") }
                    try charge(64)
                    memo[i] = top
                case 0x72:  // LONG_BINPUT
                    let i = Int(try r.read(UInt32.self, "memo index"))
                    guard let top = stack.last else { throw fail("LONG_BINPUT on an empty stack") }
                    try charge(64)
                    memo[i] = top
                case 0x94:  // MEMOIZE
                    guard let top = stack.last else { throw fail("MEMOIZE on an empty stack") }
                    try charge(64)
                    memo[memo.count] = top
                case 0x68, 0x6A:  // BINGET, LONG_BINGET
                    let i = op == 0x68 ? Int(try r.read(UInt8.self, "memo index")) : Int(try r.read(UInt32.self, "memo index"))
                    guard let v = memo[i] else { throw fail("memo index \(i) was never stored") }
                    try push(v)
                case 0x63:  // GLOBAL
                    let module = try line("global module name")
                    let name = try line("global name")
                    try push(.global(try resolve(module, name)))
                case 0x93:  // STACK_GLOBAL
                    let name = try string(try pop(), "STACK_GLOBAL name")
                    let module = try string(try pop(), "STACK_GLOBAL module")
                    try push(.global(try resolve(module, name)))
                case 0x74: try push(try tuple(try popMark()))  // TUPLE
                case 0x85: try push(try tuple([try pop()]))  // TUPLE1
                case 0x86:  // TUPLE2
                    let b = try pop(), a = try pop()
                    try push(try tuple([a, b]))
                case 0x87:  // TUPLE3
                    let c = try pop(), b = try pop(), a = try pop()
                    try push(try tuple([a, b, c]))
                case 0x4A: try push(.int(Int(try r.read(Int32.self, "BININT"))))
                case 0x4B: try push(.int(Int(try r.read(UInt8.self, "BININT1"))))
                case 0x4D: try push(.int(Int(try r.read(UInt16.self, "BININT2"))))
                case 0x8A:  // LONG1: little-endian two's complement of n bytes
                    let n = Int(try r.read(UInt8.self, "LONG1 length"))
                    guard n <= 8 else { throw fail("LONG1 of \(n) bytes does not fit in 64 bits") }
                    let raw = try r.readBytes(n, "LONG1 value")
                    var v: UInt64 = 0
                    for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                    if n > 0, n < 8, raw[n - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
                    try push(.int(Int(Int64(bitPattern: v))))
                case 0x88: try push(.bool(true))  // NEWTRUE
                case 0x89: try push(.bool(false))  // NEWFALSE
                case 0x4E: try push(.none)  // NONE
                case 0x51:  // BINPERSID
                    let pid = try pop()
                    guard case let .tuple(t) = pid, t.items.count == 5 else {
                        throw fail("persistent id is a \(pid.kind), expected ('storage', type, key, location, count)")
                    }
                    guard try string(t.items[0], "persistent id tag") == "storage" else {
                        throw fail("persistent id tag is not 'storage'")
                    }
                    guard case let .global(.storageType(type)) = t.items[1] else {
                        throw fail("persistent id storage type is a \(t.items[1].kind), expected a torch storage class")
                    }
                    let key = try string(t.items[2], "storage key")
                    let location = try string(t.items[3], "storage location")
                    let count = try int(t.items[4], "storage element count")
                    guard count >= 0 else { throw fail("storage element count \(count) is negative") }
                    try push(.storage(TorchStorageRef(type: type, key: key, location: location, count: count)))
                case 0x52:  // REDUCE
                    let args = try pop()
                    let callable = try pop()
                    guard case let .tuple(argTuple) = args else { throw fail("REDUCE arguments are a \(args.kind), expected a tuple") }
                    let a = argTuple.items
                    switch callable {
                    case .global(.orderedDict):
                        guard a.isEmpty else { throw fail("OrderedDict called with arguments") }
                        try push(.dict(PickleDict()))
                    case .global(.rebuildTensorV2):
                        guard a.count == 6 || a.count == 7 else {
                            throw fail("_rebuild_tensor_v2 called with \(a.count) arguments, expected 6 or 7")
                        }
                        guard case let .storage(storage) = a[0] else { throw fail("_rebuild_tensor_v2 storage is a \(a[0].kind)") }
                        let offset = try int(a[1], "storage offset")
                        let shape = try ints(a[2], "tensor size")
                        let stride = try ints(a[3], "tensor stride")
                        guard offset >= 0, shape.count == stride.count, shape.allSatisfy({ $0 >= 0 }) else {
                            throw fail("tensor offset \(offset), size \(shape), stride \(stride) are inconsistent")
                        }
                        try push(.tensor(TorchTensorRef(storage: storage, storageOffset: offset, shape: shape, stride: stride)))
                    default:
                        throw fail("REDUCE calls a \(callable.kind) that is not callable here")
                    }
                case 0x73:  // SETITEM
                    let v = try pop(), k = try pop()
                    guard let target = stack.last else { throw fail("SETITEM without a dict") }
                    try setItems(target, [k, v])
                case 0x75:  // SETITEMS
                    let items = try popMark()
                    guard let target = stack.last else { throw fail("SETITEMS without a dict") }
                    try setItems(target, items)
                case 0x61, 0x65:  // APPEND, APPENDS
                    let items = op == 0x61 ? [try pop()] : try popMark()
                    guard let target = stack.last, case let .list(l) = target else { throw fail("APPEND(S) target is not a list") }
                    for item in items {
                        try checkInsert(item)
                        try charge(16)
                        l.items.append(item)
                        l.depth = max(l.depth, 1 + item.depth)
                    }
                case 0x62:  // BUILD: only a dict's state merged into a dict, or no state on a tensor
                    let state = try pop()
                    guard let target = stack.last else { throw fail("BUILD without an object") }
                    switch (target, state) {
                    case let (.dict, .dict(s)):
                        try setItems(target, Array(zip(s.keys, s.values).flatMap { [$0.0, $0.1] }))
                    case (.tensor, .none):
                        break
                    case let (.tensor, .dict(s)) where s.keys.isEmpty:
                        break
                    default:
                        throw fail("BUILD of a \(target.kind) with a \(state.kind) state is not supported")
                    }
                default:
                    throw PickleError.unsupportedOpcode(path: path, offset: opOffset, opcode: op)
                }
            }
        } catch let e as ByteReaderError {
            throw PickleError.malformed(path: path, offset: e.offset, message: e.message)
        }
    }
}
