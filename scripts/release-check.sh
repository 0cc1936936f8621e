#!/usr/bin/env bash
# Release check: what `npm install spikelayers` gives a user with no compiler.
#  1. builds the prebuild with CUDA inside (npm run prebuildify, SPIKELAYERS_REQUIRE_CUDA) in a
#     copy of the repository, and the CPU-only variant to report its glibc floor;
#  2. packs the npm tarball and lists it (files, sizes);
#  3. installs it into an empty project with PREBUILDS_ONLY=1 and a PATH holding only node and
#     npm (no compiler, no cmake, no nvcc), timed;
#  4. runs a smoke script (forward + backward) from ESM and from CommonJS, and type-checks both
#     consumers against the published .d.ts files with tsc.
# Prints "release check: ok" at the end; exits non-zero on any failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/spikelayers-release.XXXXXX")
[ -n "${SPIKELAYERS_RELEASE_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
say() { echo "release check: $*"; }

# --- 1. a clean copy (tracked files + the compiled TypeScript) and the prebuilds ---
mkdir -p "$work/src"
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
(cd "$repo" && npx tsc -p tsconfig.json)
cp -r "$repo/dist" "$work/src/dist"
ln -s "$repo/node_modules" "$work/src/node_modules"
cd "$work/src"
say "building the CPU-only prebuild (glibc floor)"
npm run --silent prebuildify:cpu > "$work/prebuild-cpu.log" 2>&1 || { tail -30 "$work/prebuild-cpu.log"; exit 1; }
cpu_node=$(ls prebuilds/linux-x64/*.node)
floor() { objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -k3,3n -u | tail -1; }
say "CPU-only prebuild $(stat -c %s "$cpu_node") bytes, needs $(floor "$cpu_node")"
rm -rf prebuilds build
say "building the CUDA prebuild (npm run prebuildify)"
t0=$(date +%s)
npm run --silent prebuildify > "$work/prebuild.log" 2>&1 || { tail -30 "$work/prebuild.log"; exit 1; }
node_file=$(ls prebuilds/linux-x64/*.node)
say "prebuild $node_file: $(stat -c %s "$node_file") bytes, built in $(( $(date +%s) - t0 )) s, needs $(floor "$node_file")"
ldd "$node_file" | sed 's/^/  ldd: /'
if ldd "$node_file" | grep -qE 'libcuda|libcudart'; then say "FAIL: the prebuild links the CUDA runtime dynamically"; exit 1; fi
rm -rf build

# --- 2. the tarball ---
tarball=$(npm pack --silent --pack-destination "$work")
say "tarball $tarball: $(stat -c %s "$work/$tarball") bytes"
tar -tzvf "$work/$tarball" | awk '{printf "  %10s  %s\n", $3, $6}'
if tar -tzf "$work/$tarball" | grep -vqE '^package/(package\.json|README\.md|binding\.d\.ts|CMakeLists\.txt|dist/lib/|native/|prebuilds/linux-x64/|scripts/install\.cjs)'; then
  say "FAIL: unexpected files in the tarball"; tar -tzf "$work/$tarball" | grep -vE '^package/(package\.json|README\.md|binding\.d\.ts|CMakeLists\.txt|dist/lib/|native/|prebuilds/|scripts/install\.cjs)'; exit 1
fi

# --- 3. install into an empty project, no compiler on PATH ---
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"   # npm runs lifecycle scripts through sh
cd "$work/app"
echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > package.json
t0=$(date +%s%N)
env -i HOME="$HOME" PATH="$work/bin" PREBUILDS_ONLY=1 npm_config_cache="${npm_config_cache:-$HOME/.npm}" \
  npm install --no-audit --no-fund --loglevel=error "$work/$tarball" > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
say "installed into an empty project in $(( ($(date +%s%N) - t0) / 1000000 )) ms (PATH without compiler, cmake or nvcc; PREBUILDS_ONLY=1)"
for tool in cc c++ gcc g++ clang cmake make ninja nvcc; do
  if env -i PATH="$work/bin" sh -c "command -v $tool" > /dev/null 2>&1; then say "FAIL: $tool on the restricted PATH"; exit 1; fi
done

# --- 4. smoke from ESM and CommonJS, and the consumers' types ---
cp "$repo/test/fixtures/consumer/"{esm.mts,cjs.cts,tsconfig.json} .
# a TypeScript consumer of a Node library has Node's types (the declarations use node:stream, node:fs)
mkdir -p node_modules/@types && ln -s "$repo/node_modules/@types/node" node_modules/@types/node
"$repo/node_modules/.bin/tsc" -p tsconfig.json || { say "FAIL: the consumers do not type-check"; exit 1; }
say "consumers type-check (ESM .mts, CommonJS .cts)"
env -i HOME="$HOME" PATH="$work/bin" node out/esm.mjs
env -i HOME="$HOME" PATH="$work/bin" node out/cjs.cjs
env -i HOME="$HOME" PATH="$work/bin" node -e "
  const m = require('spikelayers');
  const b = m.backendInfo().binary;
  if (!b.includes('prebuilds')) { console.error('loaded ' + b + ', not the prebuild'); process.exit(1); }
  console.log('require() loads ' + b.replace(process.cwd(), '.'));"
say "ok"
