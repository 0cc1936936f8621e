#!/usr/bin/env bash
# The GPU check (runs THERE, on a machine with an NVIDIA GPU, CUDA, CMake and compute-sanitizer,
# after scripts/gpu-pack.sh prepared .gpu-pack here). In one run of under 6 minutes it:
#   1. builds the addon with CUDA required (for the local card's architecture, to save time);
#   2. runs the whole test suite, CUDA tests included (the golden suite on 'cuda', CPU vs CUDA);
#   3. runs compute-sanitizer memcheck and racecheck on a small forward/backward;
#   4. runs the GPU benchmark;
# and ends with a summary table. Output files go to $OUT (or ./gpu-check-out).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
pack=.gpu-pack
t0=$(date +%s)
declare -A result
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

# --- Node from the pack ---
mkdir -p "$pack/bin"
xz -dc "$pack/node.xz" > "$pack/bin/node" && chmod +x "$pack/bin/node"
export PATH="$PWD/$pack/bin:$PATH"
[ -e node_modules ] || ln -s "$pack/node_modules" node_modules
# dist is copied, not linked: the package root is found from the compiled files' real location
rm -rf dist && cp -r "$pack/dist" dist
stamp "node $(node --version); $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"

# --- 1. build with CUDA required ---
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
arch=${arch:-90}
stamp "building (CUDA required, sm_$arch)"
if cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSPIKELAYERS_REQUIRE_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$arch" \
     -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" \
     -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" > "$out/build.log" 2>&1 &&
   cmake --build build -j "$(nproc)" >> "$out/build.log" 2>&1; then
  result[build]=pass
else
  result[build]=FAIL; tail -30 "$out/build.log"
fi
stamp "build: ${result[build]}"
node -e "import('./dist/lib/index.js').then(m=>console.log(JSON.stringify(m.backendInfo(),null,1)))" | tee "$out/backend.json"

# --- 2. the test suite ---
stamp "test suite"
timeout 240 npx mocha --reporter json --reporter-option output=test-report.json > /dev/null 2>&1
node scripts/test-summary.mjs test-report.json | tee "$out/tests.txt" | tail -25
summary=$(tail -1 "$out/tests.txt")
case "$summary" in *" 0 failed") result[tests]="pass ($summary)";; *) result[tests]="FAIL ($summary)";; esac

# --- 3. compute-sanitizer on a small case ---
cat > ./sanitize-case.mjs <<'JS'
import { LIF, Tensor } from './dist/lib/index.js';
for (const tauSyn of [null, 5]) {
  const l = new LIF({ tauMem: 10, tauSyn, minVMem: -1, device: 'cuda', recordStates: true });
  const x = Tensor.from(Float32Array.from({ length: 3 * 70 * 130 }, (_, k) => (k % 7) / 3), [3, 70, 130], { device: 'cuda' });
  l.forward(x); l.forward(x);
  const g = Tensor.from(new Float32Array(3 * 70 * 130).fill(0.5), [3, 70, 130], { device: 'cuda' });
  l.backward(g); l.backward(g);
}
console.log('sanitizer case done');
JS
for tool in memcheck racecheck; do
  stamp "compute-sanitizer --tool $tool"
  if timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 3 node ./sanitize-case.mjs > "$out/sanitizer-$tool.txt" 2>&1; then
    result[$tool]="pass ($(grep -o 'ERROR SUMMARY: [0-9]* errors' "$out/sanitizer-$tool.txt" | head -1))"
  else
    result[$tool]="FAIL (see sanitizer-$tool.txt)"; tail -20 "$out/sanitizer-$tool.txt"
  fi
done
rm -f ./sanitize-case.mjs

# --- 4. GPU benchmark ---
stamp "benchmark (GPU rows)"
if timeout 200 node dist/bench/run.js --device cuda > "$out/bench.txt" 2>&1; then result[bench]=pass; else result[bench]="FAIL (exit $?)"; fi
cat "$out/bench.txt"

echo
echo "=== GPU check summary ($(date -u +%FT%TZ), $(( $(date +%s) - t0 )) s) ==="
printf '%-10s %s\n' step result
for k in build tests memcheck racecheck bench; do printf '%-10s %s\n' "$k" "${result[$k]:-not run}"; done
case "${result[build]}${result[tests]}${result[memcheck]}${result[racecheck]}${result[bench]}" in *FAIL*) exit 1;; esac
