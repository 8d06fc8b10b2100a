#!/usr/bin/env bash
# Side-by-side speed of SwiftLlama and llama.cpp on the same GGUF files, same threads.
#
#   bench/llamacpp.sh [--build] [--dir DIR] [--ik IKDIR] [-t THREADS] [-p 512] [-n 128] [-r 3] [-d DEPTH] [--cache-type f32|f16|q8_0] [--alternate ROUNDS] [--llama BIN] MODEL.gguf...
#
# --build fetches llama.cpp's source as the PyPI sdist of llama-cpp-python 0.3.36 (which
# vendors it under vendor/llama.cpp) into DIR (default ~/.cache/swiftllama-llamacpp, never
# inside this repository), gets CMake from PyPI if the system has none, and builds only
# llama-bench and llama-quantize with CMake (-DGGML_NATIVE=ON: tuned for this CPU, as a
# user building it would). Without --build, DIR must already hold that build.
# Each model is measured by both engines in turn (llama.cpp first, then ours), so the
# ratio compares runs made moments apart on the same machine state. The last column is the
# memory bandwidth our generation achieves (weight bytes per token × tg t/s); compare it with
# bench/bandwidth.sh.
# --ik IKDIR adds ik_llama.cpp as a third engine: IKDIR is its CMake build directory (with
# bin/llama-bench), built outside this repository from `github:ikawrakow/ik_llama.cpp`
# (cmake -B IKDIR -DGGML_NATIVE=ON -DLLAMA_CURL=OFF; cmake --build IKDIR --target llama-bench);
# it runs with -rtr 1 (its run-time repacking of the weights).
# -d DEPTH runs every test with DEPTH positions already in the KV cache (llama-bench's -d;
# tests named ppN@dD, tgN@dD). llama.cpp then runs with -fa 0 and -fa 1 and the faster of the
# two is compared (the cell says which); ik_llama.cpp has no -d: its tgN@dD is `-gp D,N`
# (N tokens generated after a D-token prompt, timed alone) and it has no ppN@dD.
# --alternate ROUNDS runs the engines in turn ROUNDS times per model (llama.cpp, ik, ours, llama.cpp,
# ik, ours, …; -r repetitions each time) and reports each engine's mean over the rounds, ± the
# spread between rounds: the host's memory bandwidth can move by half within minutes, and one
# sequential run per engine lets whichever met a fast minute win a generation ratio.
# --llama BIN measures that `llama` binary instead of building this repository's release one.
# --cache-type is our KV cache's type (default: f16 with -d, as llama.cpp's default cache;
# f32 without); with q8_0 the peers run a Q8_0 cache too (-ctk q8_0 -ctv q8_0 -fa 1).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
threads="$(nproc)"
p=512 n=128 reps=3 depth=0 cache= build=0 ik= rounds=1 ours=
models=()
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=1 ;;
        --dir) dir="$2"; shift ;;
        --ik) ik="$2"; shift ;;
        -t) threads="$2"; shift ;;
        -p) p="$2"; shift ;;
        -n) n="$2"; shift ;;
        -r) reps="$2"; shift ;;
        -d) depth="$2"; shift ;;
        --cache-type) cache="$2"; shift ;;
        --alternate) rounds="$2"; shift ;;
        --llama) ours="$2"; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) models+=("$1") ;;
    esac
    shift
done

dir="$(realpath -m "$dir")"
case "$dir/" in
    "$repo"/*) echo "--dir $dir is inside the repository; llama.cpp must never be committed" >&2; exit 2 ;;
esac
mkdir -p "$dir"

version=0.3.36
src="$dir/llama_cpp_python-$version/vendor/llama.cpp"
bin="$dir/build/bin"
if [ "$build" = 1 ]; then
    if [ ! -d "$src" ]; then
        # Source only for llama-cpp-python itself: `--no-binary :all:` would also build pip's
        # build dependencies (CMake included) from source just to read the sdist's metadata.
        python3 -m pip download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$version" -d "$dir"
        tar -xzf "$dir/llama_cpp_python-$version.tar.gz" -C "$dir"
    fi
    if ! command -v cmake >/dev/null; then
        # No system CMake: PyPI's cmake wheel, in a virtual environment beside the build.
        python3 -m venv "$dir/venv"
        "$dir/venv/bin/pip" install cmake
        PATH="$dir/venv/bin:$PATH"
    fi
    cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
    cmake --build "$dir/build" --target llama-bench llama-quantize -j "$threads"
fi
if [ ! -x "$bin/llama-bench" ]; then
    echo "no llama-bench in $bin: run with --build (or --dir pointing at a build)" >&2
    exit 2
fi
[ ${#models[@]} -gt 0 ] || { echo "no model files given" >&2; exit 2; }

[ -n "$cache" ] || { [ "$depth" -gt 0 ] && cache=f16 || cache=f32; }
if [ -z "$ours" ]; then
    (cd "$repo" && swift build -c release >&2)
    ours="$repo/.build/release/llama"
fi

if [ -n "$ik" ] && [ ! -x "$ik/bin/llama-bench" ]; then
    echo "no llama-bench in $ik/bin (--ik must be ik_llama.cpp's build directory)" >&2
    exit 2
fi
if [ -n "$ik" ]; then
    printf '| model | test | llama.cpp t/s | ik_llama.cpp -rtr 1 t/s | SwiftLlama t/s | vs llama.cpp | vs ik | SwiftLlama weights GB/s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
else
    printf '| model | test | llama.cpp t/s | SwiftLlama t/s | ratio | SwiftLlama weights GB/s |\n| --- | --- | ---: | ---: | ---: | ---: |\n'
fi
# A Q8_0 cache is compared with the peers' Q8_0 cache (-ctk/-ctv q8_0), which needs their flash
# attention (-fa 1); other types with their default f16 cache.
peer_cache=() fa="0,1"
if [ "$cache" = q8_0 ]; then peer_cache=(-ctk q8_0 -ctv q8_0); fa=1; fi
# Two llama-bench / `llama bench --json` arrays as one.
append() { A="$1" B="$2" python3 -c 'import json, os; print(json.dumps(json.loads(os.environ["A"]) + json.loads(os.environ["B"])))'; }
case "$rounds" in ''|*[!0-9]*|0) echo "--alternate takes a positive number of rounds" >&2; exit 2 ;; esac
for m in "${models[@]}"; do
    theirs_json="[]" ik_json="[]" ours_json="[]"
    for ((round = 1; round <= rounds; round++)); do
        if [ "$depth" -gt 0 ]; then
            one="$("$bin/llama-bench" -m "$m" -p "$p" -n "$n" -d "$depth" -fa "$fa" "${peer_cache[@]}" -t "$threads" -r "$reps" -o json)"
        else
            one="$("$bin/llama-bench" -m "$m" -p "$p" -n "$n" "${peer_cache[@]}" ${peer_cache[0]:+-fa 1} -t "$threads" -r "$reps" -o json)"
        fi
        theirs_json="$(append "$theirs_json" "$one")"
        if [ -n "$ik" ] && [ "$depth" -gt 0 ]; then
            one="$("$ik/bin/llama-bench" -m "$m" -p 0 -n 0 -gp "$depth,$n" "${peer_cache[@]}" ${peer_cache[0]:+-fa 1} -t "$threads" -r "$reps" -rtr 1 -o json)"
        elif [ -n "$ik" ]; then
            one="$("$ik/bin/llama-bench" -m "$m" -p "$p" -n "$n" "${peer_cache[@]}" ${peer_cache[0]:+-fa 1} -t "$threads" -r "$reps" -rtr 1 -o json)"
        else
            one="[]"
        fi
        ik_json="$(append "$ik_json" "$one")"
        one="$("$ours" bench --model "$m" -p "$p" -n "$n" -d "$depth" --cache-type "$cache" -t "$threads" -r "$reps" --json)"
        ours_json="$(append "$ours_json" "$one")"
    done
    THEIRS="$theirs_json" IK="$ik_json" WITH_IK="$ik" OURS="$ours_json" MODEL="$(basename "$m")" python3 - <<'PY'
import json, os, statistics
def merge(rows, key, spread):
    # One value per test and round → the mean over rounds, ± the spread between rounds (or,
    # with one round, the engine's own stddev over its repetitions).
    values = [r[key] for r in rows]
    mean = sum(values) / len(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else rows[0][spread])
def peer(text):
    # test name -> (t/s, stddev, note); at a depth the faster of -fa 0/1, noted.
    groups = {}
    for r in json.loads(text):
        groups.setdefault((r["n_prompt"], r["n_gen"], r.get("n_depth", 0), r.get("flash_attn")), []).append(r)
    merged = []
    for rows in groups.values():
        r = dict(rows[0])
        r["avg_ts"], r["stddev_ts"] = merge(rows, "avg_ts", "stddev_ts")
        merged.append(r)
    out = {}
    for r in merged:
        depth = r.get("n_depth", 0)
        if r["n_gen"] == 0:
            test = f"pp{r['n_prompt']}"
        elif r["n_prompt"] == 0:
            test = f"tg{r['n_gen']}"
        else:  # ik_llama.cpp's -gp D,N: N tokens after a D-token prompt
            test, depth = f"tg{r['n_gen']}", r["n_prompt"]
        if depth:
            test += f"@d{depth}"
        note = f" (fa {int(bool(r['flash_attn']))})" if depth and "n_depth" in r and "flash_attn" in r else ""
        if test not in out or r["avg_ts"] > out[test][0]:
            out[test] = (r["avg_ts"], r["stddev_ts"], note)
    return out
theirs, ik = peer(os.environ["THEIRS"]), peer(os.environ["IK"])
with_ik = bool(os.environ["WITH_IK"])
ours_groups = {}
for r in json.loads(os.environ["OURS"]):
    ours_groups.setdefault(r["test"], []).append(r)
for rows in ours_groups.values():
    r = dict(rows[0])
    r["tokens_per_s"], r["stddev"] = merge(rows, "tokens_per_s", "stddev")
    if r.get("weight_gb_per_s") is not None:
        r["weight_gb_per_s"] = sum(x["weight_gb_per_s"] for x in rows) / len(rows)
    t = theirs.get(r["test"])
    if t is None:
        continue
    ours = r["tokens_per_s"]
    ratio = ours / t[0] if t[0] else float("nan")
    gbs = "" if r.get("weight_gb_per_s") is None else format(r["weight_gb_per_s"], ".1f")
    cells = [os.environ["MODEL"], r["test"], f"{t[0]:.2f} ± {t[1]:.2f}{t[2]}"]
    if with_ik:
        k = ik.get(r["test"])
        cells.append("–" if k is None else f"{k[0]:.2f} ± {k[1]:.2f}")
    cells += [f"{ours:.2f} ± {r['stddev']:.2f}", f"{ratio:.2f}"]
    if with_ik:
        k = ik.get(r["test"])
        cells.append("–" if not k or not k[0] else f"{ours / k[0]:.2f}")
    cells.append(gbs)
    print("| " + " | ".join(cells) + " |")
PY
done
