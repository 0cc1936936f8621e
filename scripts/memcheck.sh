#!/usr/bin/env bash
# npm run test:memcheck: the test suite (or the files given as arguments) against an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the native addon.
#
# The addon is built out of tree (default build-asan/, CPU only; the build in ./build is
# not touched) and loaded through SPIKELAYERS_BINARY; node itself is not instrumented, so the ASan
# runtime is preloaded into it. Every heap access of the kernels and of the N-API glue is checked,
# including those into the Float32Arrays that V8 allocates (node allocates their memory with
# malloc/calloc, which ASan intercepts and surrounds with red zones). UBSan also checks
# float-to-int conversions (float-cast-overflow), which -fsanitize=undefined leaves out.
#
#   scripts/memcheck.sh                          # build if needed, run the default subset
#   scripts/memcheck.sh dist/test/fuzz.test.js   # run given files
#   MEMCHECK_REBUILD=1 scripts/memcheck.sh       # force a rebuild (it rebuilds anyway when
#                                                # native/ or CMakeLists.txt is newer than the build)
#   MEMCHECK_NO_REBUILD=1 scripts/memcheck.sh    # use the existing build even if it is older
#   MEMCHECK_OUT=/path scripts/memcheck.sh       # build directory
#
# Leak checking is off (node keeps its own allocations to exit); memory.test.js is not in the
# default subset because ASan's quarantine and red zones change RSS. Exit status: mocha's, or 9
# when a sanitizer reported anything. The build takes ~10 minutes on 2 cores, a run ~1 minute.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${MEMCHECK_OUT:-build-asan}
BIN="$OUT/Release/spikelayers.node"
SAN="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer"
CXX=${CXX:-c++}

stale() { [[ -z "${MEMCHECK_NO_REBUILD:-}" && -n "$(find native CMakeLists.txt -newer "$BIN" -print -quit 2>/dev/null)" ]]; }
if [[ ! -f "$BIN" || -n "${MEMCHECK_REBUILD:-}" ]] || stale; then
  echo "memcheck: building the ASan/UBSan addon in $OUT" >&2
  # cmake-js overrides CMAKE_CXX_FLAGS, so the sanitizer flags go into the Release flags.
  npx cmake-js rebuild --out "$OUT" --CDSPIKELAYERS_FORCE_CPU=ON \
    "--CDCMAKE_CXX_FLAGS_RELEASE=-O1 -g $SAN" \
    "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined" >"$OUT.build.log" 2>&1 ||
    { tail -30 "$OUT.build.log" >&2; exit 2; }
fi
LIBASAN=$("$CXX" -print-file-name=libasan.so)
[[ -f "$LIBASAN" ]] || { echo "memcheck: libasan.so not found (install the compiler's sanitizer runtime)" >&2; exit 2; }
nm -D "$BIN" | grep -q __asan_report || { echo "memcheck: $BIN is not instrumented" >&2; exit 2; }

npx tsc -p tsconfig.json

if [[ $# -gt 0 ]]; then
  FILES=("$@")
else
  FILES=()
  for f in dist/test/*.test.js; do
    [[ "$f" == dist/test/memory.test.js ]] || FILES+=("$f")
  done
fi

LOG=$(mktemp "${TMPDIR:-/tmp}/spikelayers-memcheck.XXXXXX")
start=$(date +%s)
set +e
LD_PRELOAD="$LIBASAN" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=9" \
  UBSAN_OPTIONS="print_stacktrace=1:report_error_type=1" \
  SPIKELAYERS_BINARY="$BIN" \
  SPIKELAYERS_FUZZ_ITERATIONS="${SPIKELAYERS_FUZZ_ITERATIONS:-10000}" \
  node --expose-gc --enable-source-maps node_modules/mocha/bin/mocha.js --no-config --timeout 600000 --reporter dot "${FILES[@]}" >"$LOG" 2>&1
rc=$?
set -e
secs=$(( $(date +%s) - start ))
asan=$(grep -c "ERROR: AddressSanitizer" "$LOG" || true)
ubsan=$(grep -c "runtime error:" "$LOG" || true)
tail -40 "$LOG"
echo
echo "memcheck: ${#FILES[@]} file(s) in ${secs}s under ASan+UBSan ($BIN): mocha exit $rc, AddressSanitizer errors: $asan, UBSan reports: $ubsan (log: $LOG)"
if [[ $asan -gt 0 || $ubsan -gt 0 ]]; then
  grep -B2 -A25 "ERROR: AddressSanitizer\|runtime error:" "$LOG" | head -120
  exit 9
fi
exit $rc
