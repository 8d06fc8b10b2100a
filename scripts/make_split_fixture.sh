#!/bin/sh
# Tests/LlamaTests/Fixtures/split: ../shared/arch/gemma/model-q8_0.gguf split into 3 shards by
# llama.cpp's own llama-gguf-split (llama-cpp-python 0.3.36's vendored llama.cpp).
# Usage: scripts/make_split_fixture.sh LLAMA_CPP_SRC LLAMA_CPP_BUILD_BIN
#   LLAMA_CPP_SRC        the sdist's vendor/llama.cpp
#   LLAMA_CPP_BUILD_BIN  a build's bin/ with libllama, libllama-common, libggml(-base)
# (bench/llamacpp.sh's build does not make the gguf-split tool; it is compiled here against
# that build's libraries, outside the repository.)
set -eu
src=$1 bin=$2
tool=$(mktemp -d)/llama-gguf-split
g++ -O1 -std=c++17 -I"$src/include" -I"$src/ggml/include" -I"$src/common" "$src/tools/gguf-split/gguf-split.cpp" \
    -o "$tool" -L"$bin" -lllama-common -lllama -lggml -lggml-base -Wl,-rpath,"$bin"
out=Tests/LlamaTests/Fixtures/split
mkdir -p "$out"
"$tool" --split --split-max-tensors 8 ../shared/arch/gemma/model-q8_0.gguf "$out/gemma-q8_0"
