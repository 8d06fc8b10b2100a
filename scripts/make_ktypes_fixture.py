#!/usr/bin/env python3
"""Requantizes every 2-D tensor of an F16 GGUF to one type with llama.cpp's own quantizer
(scripts/llamacpp_quantize_driver.c: the blocks llama-quantize writes without an importance
matrix) and writes the result with gguf-py's writer, metadata copied.

Usage: make_ktypes_fixture.py DRIVER IN-F16.gguf TYPE OUT.gguf   (needs numpy, gguf-py)
Made by scripts/make_ktypes_fixture.sh.
"""
import os, subprocess, sys, tempfile
import numpy as np
import gguf


def main():
    driver, src, type_name, out = sys.argv[1:5]
    qtype = {"q2_K": gguf.GGMLQuantizationType.Q2_K, "q3_K": gguf.GGMLQuantizationType.Q3_K,
             "q5_K": gguf.GGMLQuantizationType.Q5_K, "iq4_nl": gguf.GGMLQuantizationType.IQ4_NL,
             "iq4_xs": gguf.GGMLQuantizationType.IQ4_XS}[type_name]
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"]
    w = gguf.GGUFWriter(out, bytes(arch.parts[arch.data[0]]).decode())
    for field in r.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF.") or field.name == "general.file_type":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    with tempfile.TemporaryDirectory() as tmp:
        for t in r.tensors:
            values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            shape = [int(n) for n in reversed(t.shape)]
            if len(shape) != 2:
                w.add_tensor(t.name, values.reshape(shape))
                continue
            values.reshape(-1).astype("<f4").tofile(os.path.join(tmp, "in.f32"))
            subprocess.run([driver, type_name, str(shape[1]), os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.bin")], check=True)
            blocks = np.fromfile(os.path.join(tmp, "out.bin"), dtype=np.uint8)
            w.add_tensor(t.name, blocks.reshape(shape[0], -1), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
