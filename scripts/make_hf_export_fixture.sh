#!/usr/bin/env bash
# Makes Tests/LlamaTests/Fixtures/hf-export/shakespeare.json: exports the shipped model
# (models/shakespeare.gguf) with `llama export --format hf`, then has HF transformers load that
# directory and record its logits on two prompts and the tensors it loaded
# (scripts/check_hf_export.py --write-fixture). HuggingFaceExportTransformersTests exports the
# same model with our code and compares.
#
# Usage: scripts/make_hf_export_fixture.sh   (env HF_PYTHON: a python with torch+transformers,
#                                             default /work/scratch/venv-hf/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${HF_PYTHON:-/work/scratch/venv-hf/bin/python}
WORK=$(mktemp -d /tmp/swiftllama-hf-fixture.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

swift build --product llama >/dev/null
LLAMA=.build/debug/llama
MODEL=models/shakespeare.gguf
$LLAMA export "$MODEL" --to "$WORK/hf" --format hf
A=$($LLAMA tokenize --tokenizer "$MODEL" "ROMEO:")
B=$($LLAMA tokenize --tokenizer "$MODEL" $'First Citizen:\nBefore we proceed any further, hear me speak.')
mkdir -p Tests/LlamaTests/Fixtures/hf-export
"$PY" scripts/check_hf_export.py "$WORK/hf" --write-fixture Tests/LlamaTests/Fixtures/hf-export/shakespeare.json \
  --source "$MODEL" --ids "$A" --ids "$B"
