import Foundation

/// `llama inspect --json`: the trace as one JSON object.
///
/// Keys: `tokens` (ids), `pieces` (the text of each token), `residual` ([L+1][T][D]: index 0
/// the embeddings, index i the residual stream after layer i, before the final norm),
/// `final_norm` ([T][D]), `attention` ([layers][heads][T][T] softmax probabilities, zeros
/// above the diagonal; every layer and head, or those of `--layer`/`--head`, listed in
/// `attention_layers` and `attention_heads`), `last_logits` ([vocab] at the last position),
/// `top_k` ([{id, piece, probability, logit}]), `logit_lens` ([L][T] top ids) with
/// `logit_lens_probability` ([L][T] their probabilities), and `config` (the model's shape).
public enum InspectionJSON {
    public static func encode(_ s: Inspection) -> [UInt8] {
        var out = JSONText()
        let c = s.config
        out.raw("{\n\"config\":{")
        out.raw("\"architecture\":"); out.string(c.architecture.name)
        out.raw(",\"dim\":\(c.dim),\"layers\":\(c.layerCount),\"heads\":\(c.headCount),\"kv_heads\":\(c.kvHeadCount),\"head_dim\":\(c.headDim),\"hidden\":\(c.hiddenDim),\"vocab\":\(c.vocabSize),\"norm_eps\":")
        out.float(c.normEps)
        out.raw(",\"rope_theta\":"); out.float(c.ropeTheta)
        out.raw("},\n\"tokens\":[" + s.tokens.map(String.init).joined(separator: ",") + "],\n\"pieces\":[")
        for (i, p) in s.pieces.enumerated() {
            if i > 0 { out.raw(",") }
            out.string(p)
        }
        out.raw("],\n\"residual\":[")
        for (i, r) in s.residual.enumerated() {
            out.raw(i == 0 ? "\n" : ",\n")
            out.matrix(r.values, rows: r.rows, width: r.width)
        }
        out.raw("],\n\"final_norm\":")
        out.matrix(s.finalNorm.values, rows: s.finalNorm.rows, width: s.finalNorm.width)
        out.raw(",\n\"attention_layers\":[" + s.layers.map { String($0.layer) }.joined(separator: ",") + "]")
        out.raw(",\n\"attention_heads\":[" + (s.layers.first?.heads ?? []).map(String.init).joined(separator: ",") + "]")
        out.raw(",\n\"attention\":[")
        let t = s.tokenCount
        for (li, layer) in s.layers.enumerated() {
            out.raw(li == 0 ? "\n[" : ",\n[")
            for hi in layer.heads.indices {
                if hi > 0 { out.raw(",") }
                out.matrix(Array(layer.probabilities[(hi * t * t)..<((hi + 1) * t * t)]), rows: t, width: t)
            }
            out.raw("]")
        }
        out.raw("],\n\"last_logits\":")
        out.array(s.lastLogits[...])
        out.raw(",\n\"top_k\":[")
        for (i, k) in s.topK.enumerated() {
            out.raw(i == 0 ? "" : ",")
            out.raw("{\"id\":\(k.id),\"piece\":")
            out.string(k.piece)
            out.raw(",\"probability\":")
            out.double(k.probability)
            out.raw(",\"logit\":")
            out.float(k.logit)
            out.raw("}")
        }
        out.raw("],\n\"logit_lens\":[")
        out.raw(s.logitLens.map { "[" + $0.map { String($0.id) }.joined(separator: ",") + "]" }.joined(separator: ","))
        out.raw("],\n\"logit_lens_probability\":[")
        for (i, row) in s.logitLens.enumerated() {
            if i > 0 { out.raw(",") }
            out.raw("[")
            for (j, k) in row.enumerated() {
                if j > 0 { out.raw(",") }
                out.double(k.probability)
            }
            out.raw("]")
        }
        out.raw("]\n}\n")
        return out.bytes
    }
}

/// A JSON text written piece by piece (floats as Swift's shortest round-trip text).
struct JSONText {
    var bytes: [UInt8] = []

    mutating func raw(_ s: String) { bytes += Array(s.utf8) }

    mutating func float(_ v: Float) { raw(v.isFinite ? "\(v)" : "null") }

    mutating func double(_ v: Double) { raw(v.isFinite ? "\(v)" : "null") }

    mutating func array(_ values: ArraySlice<Float>) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for v in values {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            float(v)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func matrix(_ values: [Float], rows: Int, width: Int) {
        raw("[")
        for i in 0..<rows {
            if i > 0 { raw(",") }
            array(values[(i * width)..<((i + 1) * width)])
        }
        raw("]")
    }

    mutating func string(_ s: String) { raw(jsonString(s, ascii: false)) }
}
