#!/usr/bin/env bash
# The GPU check: runs THERE, on the GPU machine (NVIDIA GPU, CUDA with compute-sanitizer, CMake, a
# C++ compiler; no Node.js, no npm, no network), in the repository root, after
# scripts/gpu-pack.sh prepared .gpu-pack here and .gpu-pack travelled with the working tree:
#
#   bash scripts/gpu-check.sh
#
# One command, under 8 minutes in all (GPU_CHECK_TOTAL, default 450 s, bounds every step):
#   setup      node, node_modules, dist, the golden files and OpenBLAS unpacked from the pack
#   build      the addon with CUDA required, for the card's architecture only (cmake, offline)
#   probe      backendInfo(): CUDA built into the addon, and usable where nvidia-smi lists a GPU
#   tests      the CUDA suites: every dist/test file named *cuda* or *device* (the golden suite
#              on 'cuda', CPU vs CUDA bit for bit, device tensors, async, device memory), the
#              network golden suite and the stream suite (a CUDA case), with the pack's golden
#              files (SPIKELAYERS_GOLDEN_DIR), CI=1 (missing data fails instead of skipping) and
#              SPIKELAYERS_EXPECT_SM = the build's architecture
#   memcheck   compute-sanitizer --tool memcheck on the small subset (GPU_CHECK_SANITIZE_TESTS)
#   initcheck  compute-sanitizer --tool initcheck on the same subset
#   bench      node dist/bench/run.js --device cuda --json --require-targets (exit status 3 when a
#              GPU target is missed); it gets what is left of the total
# Each step runs in its own process group under a hard limit (its budget, or what is left of the
# total if less): then SIGTERM to the group, SIGKILL 5 s later; whatever the step left running is
# killed when it ends. Without a GPU (no nvidia-smi, or it lists none) the GPU steps say
# "no device" and the rest runs (scripts/gpu-rehearse.sh rehearses the check that way). If the
# build fails and the pack holds a prebuilt addon, the later steps use that one (the build
# still counts as failed). The end is a summary table; the exit status is 1 when any step failed.
#
# Files in $OUT (default ./gpu-check-out), 8 in all: gpu-check.log (all that is printed here),
# summary.txt (the table), build.log, tests.log (mocha's output, stderr included), memcheck.log,
# initcheck.log, bench.json (the benchmark's JSON document), bench.log (its progress and verdict).
#
# Settings (environment): GPU_CHECK_TOTAL; GPU_CHECK_BUDGET_SETUP, _BUILD, _PROBE, _TESTS,
# _MEMCHECK, _INITCHECK, _BENCH (seconds); GPU_CHECK_ARCH (e.g. 90; default: the card's compute
# capability, 90 without a card); GPU_CHECK_TESTS and GPU_CHECK_SANITIZE_TESTS (globs relative to
# the repository root); GPU_CHECK_PACK (default .gpu-pack).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pack=${GPU_CHECK_PACK:-.gpu-pack}
out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$root/build/gpu-check # the build tree and scratch files (build/ is ignored by git)
mkdir -p "$work"

TOTAL=${GPU_CHECK_TOTAL:-450}
declare -A budget=(
  [setup]=${GPU_CHECK_BUDGET_SETUP:-30}
  [build]=${GPU_CHECK_BUDGET_BUILD:-150}
  [probe]=${GPU_CHECK_BUDGET_PROBE:-20}
  [tests]=${GPU_CHECK_BUDGET_TESTS:-100}
  [memcheck]=${GPU_CHECK_BUDGET_MEMCHECK:-50}
  [initcheck]=${GPU_CHECK_BUDGET_INITCHECK:-50}
  [bench]=${GPU_CHECK_BUDGET_BENCH:-$TOTAL}
)
steps=(setup build probe tests memcheck initcheck bench)
declare -A res det took
SECONDS=0
exec > >(tee "$out/gpu-check.log") 2>&1
tee_pid=$!
say() { echo "[$(printf '%3d' "$SECONDS")s] $*"; }

# run_limited STEP LOG CMD...: runs CMD in a new session (its own process group) with its output
# appended to LOG, limited to the step's budget or what is left of the total; sets rc (124: limit).
run_limited() {
  local step=$1 log=$2
  shift 2
  local limit=${budget[$step]} left=$((TOTAL - SECONDS))
  if ((left < 3)); then
    rc=125
    return
  fi
  ((limit > left)) && limit=$left
  setsid "$@" >> "$log" 2>&1 < /dev/null &
  local pid=$! deadline=$((SECONDS + limit)) timed_out=0
  while kill -0 "$pid" 2> /dev/null; do
    if ((SECONDS >= deadline)); then
      timed_out=1
      say "$step: time limit of $limit s reached: SIGTERM to its process group, SIGKILL in 5 s"
      kill -TERM -- "-$pid" 2> /dev/null
      for _ in $(seq 50); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
      done
      kill -KILL -- "-$pid" 2> /dev/null
      break
    fi
    sleep 0.2
  done
  { wait "$pid"; } 2> /dev/null
  rc=$?
  kill -KILL -- "-$pid" 2> /dev/null # whatever the step left running in its group
  ((timed_out)) && rc=124
}

# finish STEP RESULT DETAILS: records a step's outcome.
finish() {
  res[$1]=$2
  det[$1]=$3
  took[$1]=$4
  say "$1: $2${3:+ ($3)}"
}
limit_text() { if ((rc == 124)); then echo "time limit reached"; elif ((rc == 125)); then echo "no time left"; else echo "exit $rc"; fi; }

decompress() { # FILE.xz to stdout, with xz or, where xz is missing, Python's lzma
  if command -v xz > /dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

# --- the machine ---
gpu_line=
if command -v nvidia-smi > /dev/null; then
  gpu_line=$(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2> /dev/null | head -1)
fi
have_gpu=0
if [[ -n "$gpu_line" ]]; then
  have_gpu=1
  IFS=, read -r card driver cap mem <<< "$gpu_line"
  card=${card# } driver=${driver# } cap=${cap# } mem=${mem# }
  arch=${GPU_CHECK_ARCH:-${cap//./}}
elif command -v nvidia-smi > /dev/null && nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
  have_gpu=1 # listed, but the query fields were refused
  card=$(nvidia-smi -L | head -1) driver=? cap=? mem=?
  arch=${GPU_CHECK_ARCH:-90}
else
  card="none (no nvidia-smi, or it lists no GPU)" driver=- cap=- mem=-
  arch=${GPU_CHECK_ARCH:-90}
fi
if ! command -v nvcc > /dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH="$PATH:/usr/local/cuda/bin"; fi
sanitizer=$(command -v compute-sanitizer || true)
[[ -z "$sanitizer" && -x /usr/local/cuda/bin/compute-sanitizer ]] && sanitizer=/usr/local/cuda/bin/compute-sanitizer
say "GPU check, $(date -u +%FT%TZ), total limit $TOTAL s"
say "card: $card; driver $driver; compute capability $cap; memory $mem"
say "nvcc: $(nvcc --version 2> /dev/null | grep -o 'release [0-9.]*' || echo 'not found'); cmake: $(cmake --version 2> /dev/null | head -1 || echo 'not found'); compute-sanitizer: ${sanitizer:-not found}"
say "$(uname -srm); $(ldd --version 2> /dev/null | head -1); $(nproc) CPUs"
[[ -f "$pack/MANIFEST" ]] && sed 's/^/  pack: /' "$pack/MANIFEST"
((have_gpu)) && nvidia-smi 2>&1 | sed 's/^/  nvidia-smi: /'

export root pack work out arch
export -f decompress

# --- setup ---
step_setup() {
  set -eo pipefail
  [[ -f "$pack/node.xz" ]] || { echo "setup: $pack/node.xz not found: run scripts/gpu-pack.sh and carry $pack"; exit 1; }
  mkdir -p "$pack/bin"
  decompress "$pack/node.xz" > "$pack/bin/node.tmp" && chmod +x "$pack/bin/node.tmp" && mv "$pack/bin/node.tmp" "$pack/bin/node"
  # node_modules: a link or a folder unpacked by an earlier check is replaced; a real install is used as it is
  if [[ -L node_modules || ! -e node_modules || -f node_modules/.gpu-pack ]]; then
    rm -rf node_modules && mkdir node_modules
    decompress "$pack/modules.tar.xz" | tar -C node_modules -xf -
    touch node_modules/.gpu-pack
  else
    echo "setup: using the existing node_modules"
  fi
  rm -rf dist && decompress "$pack/dist.tar.xz" | tar -xf -
  rm -rf "$pack/golden" "$pack/openblas" && mkdir -p "$pack/golden"
  decompress "$pack/golden.tar.xz" | tar -C "$pack/golden" -xf -
  decompress "$pack/openblas.tar.xz" | tar -C "$pack" -xf -
  if [[ -f "$pack/prebuilt.node.xz" ]]; then
    mkdir -p "$pack/prebuilt" && decompress "$pack/prebuilt.node.xz" > "$pack/prebuilt/spikelayers.node"
  fi
  for f in lif_cases.json network_cases.json; do [[ -s "$pack/golden/$f" ]] || { echo "setup: golden $f missing"; exit 1; }; done
  for f in mocha/bin/mocha.js chai/package.json node-addon-api/napi.h node-api-headers/include/node_api.h node-gyp-build/index.js; do
    [[ -f "node_modules/$f" ]] || { echo "setup: node_modules/$f missing"; exit 1; }
  done
  "$pack/bin/node" -e 'process.exit(0)' || { echo "setup: the pack's node does not run here"; exit 1; }
}
export -f step_setup
say "setup: unpacking $pack"
t=$SECONDS
run_limited setup "$work/setup.log" bash -c step_setup
cat "$work/setup.log" 2> /dev/null
export PATH="$root/$pack/bin:$PATH"
if ((rc == 0)); then
  finish setup pass "node $(node --version), $(find dist/test -name '*.test.js' | wc -l) test files, golden $(du -sh "$pack/golden" | cut -f1)" $((SECONDS - t))
else
  finish setup FAIL "$(limit_text); see gpu-check.log" $((SECONDS - t))
fi
for tool in npm npx; do "$tool" --version > /dev/null 2>&1 && say "note: $tool runs here ($(command -v "$tool")); the check does not use it"; done

# --- build ---
step_build() {
  set -eo pipefail
  local gen=() want="Unix Makefiles"
  if command -v ninja > /dev/null; then
    gen=(-G Ninja)
    want=Ninja
  fi
  # a tree configured with another generator (or elsewhere) cannot be reused
  if [[ -f "$work/CMakeCache.txt" ]] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$want" "$work/CMakeCache.txt"; then
    rm -rf "$work/CMakeCache.txt" "$work/CMakeFiles"
  fi
  cmake -S . -B "$work" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSPIKELAYERS_REQUIRE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DSPIKELAYERS_OPENBLAS_ROOT="$root/$pack/openblas" \
    "-DCMAKE_JS_INC=$root/node_modules/node-api-headers/include;$root/node_modules/node-addon-api" \
    -DCMAKE_JS_SRC= -DCMAKE_JS_LIB= -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$work/Release"
  cmake --build "$work" --parallel "$(nproc)"
  test -f "$work/Release/spikelayers.node"
}
export -f step_build
say "build: CUDA required, sm_$arch, $(nproc) jobs (log: build.log)"
t=$SECONDS
: > "$out/build.log"
if ((rc == 0)); then run_limited build "$out/build.log" bash -c step_build; else rc=1; fi
binary=
if ((rc == 0)); then
  binary=$work/Release/spikelayers.node
  finish build pass "sm_$arch, $(du -m "$binary" | cut -f1) MiB" $((SECONDS - t))
else
  tail -25 "$out/build.log"
  why=$(limit_text)
  [[ "${res[setup]}" != pass ]] && why="setup failed"
  if [[ -f "$pack/prebuilt/spikelayers.node" && "${res[setup]}" == pass ]]; then
    binary=$root/$pack/prebuilt/spikelayers.node
    why="$why; the later steps use the pack's prebuilt addon"
  fi
  finish build FAIL "$why; see build.log" $((SECONDS - t))
fi
[[ -n "$binary" ]] && export SPIKELAYERS_BINARY=$binary

# --- probe ---
t=$SECONDS
cuda_ok=0
if [[ -z "$binary" ]]; then
  finish probe "not run" "no addon" 0
else
  run_limited probe "$work/probe.log" node -e '
    import("./dist/lib/index.js").then((m) => {
      const i = m.backendInfo();
      console.log(JSON.stringify(i, null, 1));
      const c = i.cuda, d = c.devices.find((x) => x.usable) ?? c.devices[0];
      console.log(`PROBE built=${c.built ? 1 : 0} available=${c.available ? 1 : 0} ${c.available ? `${d?.name} cc ${d?.computeCapability}, runtime ${c.runtimeVersion}, driver ${c.driverVersion}` : `${c.code}: ${c.reason}`}`);
    });'
  cat "$work/probe.log"
  line=$(grep '^PROBE ' "$work/probe.log" | head -1)
  what=${line#PROBE built=? available=? }
  if ((rc != 0)) || [[ -z "$line" ]]; then
    finish probe FAIL "the addon did not load ($(limit_text)); see gpu-check.log" $((SECONDS - t))
  elif [[ "$line" != "PROBE built=1 "* ]]; then
    finish probe FAIL "the addon was built without CUDA" $((SECONDS - t))
  elif [[ "$line" == "PROBE built=1 available=1 "* ]]; then
    cuda_ok=1
    finish probe pass "$what" $((SECONDS - t))
  elif ((have_gpu)); then
    finish probe FAIL "nvidia-smi lists a GPU, but CUDA is not usable: $what" $((SECONDS - t))
  else
    finish probe "no device" "$what" $((SECONDS - t))
  fi
fi

# files matching the globs in $1 (relative to the repository root), each once
files_of() {
  shopt -s globstar nullglob
  local -A seen=()
  local f
  # shellcheck disable=SC2086 # the globs are meant to expand
  for f in $1; do
    [[ -f "$f" && -z "${seen[$f]:-}" ]] && {
      seen[$f]=1
      echo "$f"
    }
  done
}

# --- tests ---
t=$SECONDS
: > "$out/tests.log"
if [[ -z "$binary" ]]; then
  finish tests "not run" "no addon" 0
else
  mapfile -t tfiles < <(files_of "${GPU_CHECK_TESTS:-dist/test/**/*cuda*.test.js dist/test/**/*device*.test.js dist/test/nn/network-golden.test.js dist/test/stream.test.js}")
  say "tests: ${#tfiles[@]} files (log: tests.log): ${tfiles[*]}"
  report=$work/test-report.json
  rm -f "$report"
  run_limited tests "$out/tests.log" env CI=1 SPIKELAYERS_EXPECT_SM="$arch" SPIKELAYERS_GOLDEN_DIR="$root/$pack/golden" \
    node --expose-gc --enable-source-maps node_modules/mocha/bin/mocha.js --no-config --timeout 120000 --reporter json --reporter-option "output=$report" "${tfiles[@]}"
  mocha_rc=$rc
  # every test that passed, with its time, then the summary (which deletes the report)
  node -e 'try { for (const t of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).passes) console.log(`passed: ${t.fullTitle} (${t.duration} ms)`); } catch {}' "$report" >> "$out/tests.log"
  node scripts/test-summary.mjs "$report" > "$work/tests-summary.txt" 2>&1
  cat "$work/tests-summary.txt" >> "$out/tests.log"
  grep -v '^skipped: ' "$work/tests-summary.txt" | tail -30
  counts=$(tail -1 "$work/tests-summary.txt")
  skipped=$(grep -o '^[0-9]* skipped' "$work/tests-summary.txt" || echo "0 skipped")
  rc=$mocha_rc
  if ((mocha_rc == 0)) && [[ "$counts" == *" passed, 0 failed" && "$counts" != "0 passed"* ]]; then
    finish tests pass "$counts, $skipped, ${#tfiles[@]} files$( ((cuda_ok)) || echo '; no device: the GPU tests skipped')" $((SECONDS - t))
  else
    finish tests FAIL "$counts, $skipped ($(limit_text)); see tests.log" $((SECONDS - t))
  fi
fi

# --- compute-sanitizer ---
sfiles=()
mapfile -t sfiles < <(files_of "${GPU_CHECK_SANITIZE_TESTS:-dist/test/cuda-small.test.js dist/test/nn/synapse-cuda.test.js dist/test/nn/ops-cuda.test.js dist/test/**/device-memory*.test.js}")
for tool in memcheck initcheck; do
  t=$SECONDS
  log=$out/$tool.log
  : > "$log"
  if ((!cuda_ok)); then
    if ((have_gpu)) || [[ -z "$binary" ]]; then finish "$tool" "not run" "no usable CUDA" 0; else finish "$tool" "no device" "needs a GPU" 0; fi
    continue
  fi
  if [[ -z "$sanitizer" ]]; then
    finish "$tool" FAIL "compute-sanitizer not found" 0
    continue
  fi
  say "$tool: ${#sfiles[@]} files under compute-sanitizer (log: $tool.log)"
  run_limited "$tool" "$log" "$sanitizer" --tool "$tool" --print-limit 200 --error-exitcode 9 \
    "$root/$pack/bin/node" --expose-gc node_modules/mocha/bin/mocha.js --no-config --timeout 0 --reporter dot "${sfiles[@]}"
  summary=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$log" | tail -1)
  errors=$(grep -o '[0-9]*' <<< "$summary")
  api=$(grep -c 'Program hit' "$log")
  passing=$(grep -o '[0-9]* passing' "$log" | tail -1)
  failing=$(grep -o '[0-9]* failing' "$log" | tail -1)
  memory=$((${errors:-0} - api))
  ((memory < 0)) && memory=0
  tail -8 "$log"
  if [[ -z "$summary" ]]; then
    finish "$tool" FAIL "no error summary ($(limit_text)); see $tool.log" $((SECONDS - t))
  elif ((memory > 0)) || [[ -n "$failing" || -z "$passing" || "$passing" == "0 passing" ]] || { ((rc != 0)) && ((rc != 9)); }; then
    finish "$tool" FAIL "$memory memory errors, $api CUDA API errors, ${passing:-0 passing}${failing:+, $failing} ($(limit_text)); see $tool.log" $((SECONDS - t))
  else
    finish "$tool" pass "0 memory errors, ${passing:-0 passing}, ${#sfiles[@]} files$( ((api)) && echo "; $api CUDA API errors reported, see $tool.log")" $((SECONDS - t))
  fi
done

# --- bench ---
t=$SECONDS
: > "$out/bench.log"
: > "$out/bench.json"
if [[ -z "$binary" ]] || { ((!cuda_ok)) && ((have_gpu)); }; then
  finish bench "not run" "no usable CUDA" 0
else
  say "bench: --device cuda --require-targets (logs: bench.json, bench.log)"
  run_limited bench "$out/bench.log" bash -c 'exec node --expose-gc dist/bench/run.js --device cuda --json --require-targets > "$out/bench.json"'
  bench_rc=$rc
  grep '^bench: ' "$out/bench.log"
  rows=$(node -e 'try { const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(d.gpu?.rows?.length ?? 0); } catch { console.log(0); }' "$out/bench.json")
  if ((!cuda_ok)) && grep -q 'no CUDA rows ran' "$out/bench.log"; then
    finish bench "no device" "the bench found no GPU and ran no CUDA rows" $((SECONDS - t))
  elif ((bench_rc == 0)); then
    finish bench pass "$rows CUDA rows, every target met" $((SECONDS - t))
  elif ((bench_rc == 3)); then
    finish bench FAIL "$rows CUDA rows, targets or checks NOT met" $((SECONDS - t))
  else
    finish bench FAIL "$rows CUDA rows ($(limit_text)); see bench.log" $((SECONDS - t))
  fi
fi

# --- the summary ---
failed=0
for s in "${steps[@]}"; do [[ "${res[$s]:-}" == FAIL ]] && failed=1; done
{
  echo
  echo "=== GPU check summary: $(date -u +%FT%TZ), $SECONDS s (limit $TOTAL s) ==="
  echo "card:   $card; driver $driver; compute capability $cap; memory $mem; built for sm_$arch"
  printf '%-10s %-9s %6s  %s\n' step result time details
  for s in "${steps[@]}"; do
    r=${res[$s]:-not run}
    printf '%-10s %-9s %6s  %s\n' "$s" "$r" "${took[$s]:-0}s" "${det[$s]:-}"
  done
  targets=$(grep -E '^bench: (target |cpu-vs-cuda|cuda vs cpu|no target|no CUDA rows were|CUDA part stopped)' "$out/bench.log" 2> /dev/null | sed 's/^bench: //')
  if [[ -n "$targets" ]]; then
    echo "GPU targets and checks (bench):"
    sed 's/^/  /' <<< "$targets"
  else
    echo "GPU targets: not measured (${res[bench]:-not run}${det[bench]:+: ${det[bench]}})"
  fi
  if ((failed)); then
    echo "result: FAIL"
  elif ((!cuda_ok)); then
    echo "result: pass without a GPU (no device: the GPU steps did not run)"
  else
    echo "result: pass"
  fi
} | tee "$out/summary.txt"
for f in "$out"/*; do # what comes back is limited in size: cut very long logs from the front
  (($(stat -c %s "$f") > 15000000)) && { tail -c 15000000 "$f" > "$f.tmp" && mv "$f.tmp" "$f"; }
done
exec 1>&- 2>&-
wait "$tee_pid" 2> /dev/null
exit "$failed"
