#!/usr/bin/env bash
# Rehearses the GPU check HERE, in an environment that mimics the GPU machine, so that everything
# but the GPU steps is proven to work before a GPU is spent on it:
#   - a copy of what travels: the tracked files and the untracked files git does not ignore
#     (links that point out of the tree are left dangling, as they arrive there), plus .gpu-pack;
#     nothing else (no node_modules, no dist, no build, no ../shared)
#   - no Node.js, npm or npx but the pack's: the system's node, npm, npx and corepack are hidden
#     (in a private mount namespace, /dev/null is bound over each) and so are the global
#     node_modules folders; HOME is an empty folder
#   - no network (a private network namespace: only a loopback device, down)
# and then runs scripts/gpu-check.sh there, end to end. Without a GPU here the GPU steps report
# "no device". It needs root or unprivileged user namespaces for unshare; where unshare is refused
# it runs with only PATH and HOME restricted, and says so.
#
#   bash scripts/gpu-rehearse.sh [--pack] [--incremental] [--add-prebuilt]
#     --pack          run scripts/gpu-pack.sh first (also done when .gpu-pack is missing)
#     --incremental   keep the build tree of the previous rehearsal (as a second call on a warm
#                     GPU machine keeps build/); default: a clean build
#     --add-prebuilt  when the build passes, put the addon it built into the pack
#                     (.gpu-pack/prebuilt.node.xz): the check on the GPU machine falls back to
#                     it if its own build fails
#
# The build step's budget is sized for the GPU machine's 16 cores; here it defaults to
# GPU_CHECK_BUDGET_BUILD=1500 s and the total grows by as much (both can be set). The other
# steps run with the GPU machine's budgets. The result lands in build/gpu-rehearsal/ (the files the
# check writes to $OUT there) and the exit status is the check's.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
pack=.gpu-pack
repack=0 incremental=0 add_prebuilt=0
for a in "$@"; do
  case "$a" in
    --pack) repack=1 ;;
    --incremental) incremental=1 ;;
    --add-prebuilt) add_prebuilt=1 ;;
    -h | --help)
      sed -n '2,30p' "$0"
      exit 0
      ;;
    *)
      echo "gpu-rehearse: unknown argument '$a' (expected --pack, --incremental, --add-prebuilt)" >&2
      exit 2
      ;;
  esac
done
if ((repack)) || [[ ! -f "$pack/MANIFEST" ]]; then bash scripts/gpu-pack.sh; fi

base=${GPU_REHEARSE_DIR:-${TMPDIR:-/tmp}/spikelayers-gpu-rehearsal}
repo=$base/repo
result=$src/build/gpu-rehearsal
mkdir -p "$base"
# a fixed place, so that --incremental can keep build/ (CMake's cache holds absolute paths)
if ((incremental)) && [[ -d "$repo/build" ]]; then
  mv "$repo/build" "$base/build.keep"
fi
rm -rf "$repo" "$base/home" "$base/out"
mkdir -p "$repo" "$base/home" "$base/out"

echo "gpu-rehearse: copying what travels into $repo"
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -C "$repo" -xf -
cp -r "$pack" "$repo/$pack"
# links that lead out of the tree arrive dangling there
while IFS= read -r -d '' l; do
  target=$(readlink -f "$l" || true)
  if [[ "$target" != "$repo"/* ]]; then ln -sfn "$base/outside-the-tree/$(basename "$l")" "$l"; fi
done < <(find "$repo" -type l -print0)
mib=$(( ($(du -sb "$repo" | cut -f1) + 1048575) / 1048576 ))
echo "gpu-rehearse: $mib MiB travel (limit 64 MiB)"
((mib < 64)) || { echo "gpu-rehearse: too large to travel" >&2; exit 1; }
if [[ -d "$base/build.keep" ]]; then
  echo "gpu-rehearse: --incremental: keeping the previous build tree"
  mv "$base/build.keep" "$repo/build"
fi

build_budget=${GPU_CHECK_BUDGET_BUILD:-1500}
total=${GPU_CHECK_TOTAL:-$((450 + build_budget - 150))}
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[[ -d /usr/local/cuda/bin ]] && path=$path:/usr/local/cuda/bin
envs=(env -i "PATH=$path" "HOME=$base/home" "LANG=C.UTF-8" "OUT=$base/out"
  "GPU_CHECK_BUDGET_BUILD=$build_budget" "GPU_CHECK_TOTAL=$total")
for v in $(compgen -e | grep '^GPU_CHECK_' || true); do
  [[ "$v" == GPU_CHECK_BUDGET_BUILD || "$v" == GPU_CHECK_TOTAL ]] || envs+=("$v=${!v}")
done

# Inside the sandbox: hide the system's Node.js tools and global packages, show what is left.
inner='
set -u
for tool in node nodejs npm npx corepack yarn pnpm; do
  for p in $(type -ap "$tool"); do mount --bind "$2" "$p"; done
done
for d in /usr/lib/node_modules /usr/local/lib/node_modules /usr/share/nodejs; do
  [[ -d "$d" ]] && mount -t tmpfs -o ro,size=1k none "$d"
done
for tool in node npm npx; do
  if "$tool" --version > /dev/null 2>&1; then echo "gpu-rehearse: sandbox: $tool RUNS ($(command -v "$tool"))"; else echo "gpu-rehearse: sandbox: no $tool"; fi
done
if (exec 3<>/dev/tcp/registry.npmjs.org/443) 2>/dev/null; then echo "gpu-rehearse: sandbox: network REACHABLE"; else echo "gpu-rehearse: sandbox: network unreachable"; fi
cd "$1" && exec bash scripts/gpu-check.sh'
# what the hidden tools become: a program that says so and fails
stub=$base/hidden-tool
printf '#!/bin/sh\necho "$0: not available (hidden by the rehearsal, absent on the GPU machine)" >&2\nexit 127\n' > "$stub"
chmod +x "$stub"
sandbox=
if unshare -m -n true 2> /dev/null; then
  sandbox="unshare -m -n"
elif unshare -r -m -n true 2> /dev/null; then
  sandbox="unshare -r -m -n"
fi

echo "gpu-rehearse: running scripts/gpu-check.sh in ${sandbox:-no namespace (unshare refused): only PATH and HOME restricted}"
start=$SECONDS
set +e
if [[ -n "$sandbox" ]]; then
  $sandbox "${envs[@]}" bash -c "$inner" gpu-check-sandbox "$repo" "$stub"
else
  "${envs[@]}" bash -c 'cd "$1" && exec bash scripts/gpu-check.sh' gpu-check-sandbox "$repo"
fi
rc=$?
set -e
wall=$((SECONDS - start))

rm -rf "$result" && mkdir -p "$result"
cp -r "$base/out/." "$result/"
addon=$repo/build/gpu-check/Release/spikelayers.node
echo
echo "gpu-rehearse: gpu-check.sh exit status $rc after $wall s wall time (budget: total $total s, of which build $build_budget s here)"
echo "gpu-rehearse: what it wrote to \$OUT is in build/gpu-rehearsal/: $(cd "$result" && ls | tr '\n' ' ')"
if ((add_prebuilt)); then
  if grep -q '^build  *pass' "$result/summary.txt" && [[ -f "$addon" ]]; then
    xz -T0 -9 -c "$addon" > "$pack/prebuilt.node.xz"
    echo "$(stat -c %s "$pack/prebuilt.node.xz") $(cd "$pack" && sha256sum prebuilt.node.xz)  (the rehearsal's build, $(date -u +%FT%TZ))" >> "$pack/MANIFEST"
    echo "gpu-rehearse: the pack now carries the rehearsal's addon as prebuilt.node.xz ($(du -m "$pack/prebuilt.node.xz" | cut -f1) MiB)"
  else
    echo "gpu-rehearse: --add-prebuilt: the build did not pass; the pack is unchanged"
  fi
fi
exit "$rc"
