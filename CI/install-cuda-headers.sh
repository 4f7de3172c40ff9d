#!/usr/bin/env bash
# Fetches what `go build -tags cuda` needs on a machine without CUDA: cuda.h
# (the only header gorgonia.org/cu v0.9.6's cgo preambles include) and the
# stub libcuda.so to link against (at run time the NVIDIA driver's
# libcuda.so.1 replaces it). Both come out of Debian bookworm's non-free
# `nvidia-cuda-dev` package (~774 MB), downloaded with `apt-get download`
# through a private sources list, so the machine's own apt configuration is
# neither read nor changed and nothing is installed. Only those two files are
# kept; the .deb is deleted after extraction.
#
# Idempotent: when both files are present it only prints the flags.
#
#   CUDA_HEADERS_DIR  where to put them (default ${XDG_CACHE_HOME:-$HOME/.cache}/gotrickle/cuda)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#
# Prints, as the last two lines, the flags to build with:
#   export CGO_CFLAGS="-O2 -g -I<dir>/include"
#   export CGO_LDFLAGS="-L<dir>/lib"
# so `eval "$(bash CI/install-cuda-headers.sh | tail -2)"` sets them.
set -euo pipefail

dir="${CUDA_HEADERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gotrickle/cuda}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
pkg=nvidia-cuda-dev

say() { echo "install-cuda-headers: $*" >&2; }
flags() {
  echo "export CGO_CFLAGS=\"-O2 -g -I$dir/include\""
  echo "export CGO_LDFLAGS=\"-L$dir/lib\""
}

if [ -s "$dir/include/cuda.h" ] && [ -s "$dir/lib/libcuda.so" ]; then
  say "present in $dir ($(cat "$dir/VERSION" 2>/dev/null || echo 'version unknown'))"
  flags
  exit 0
fi

for tool in apt-get dpkg-deb tar; do
  command -v "$tool" >/dev/null || { say "needs $tool (Debian bookworm)"; exit 1; }
done

start=$(date +%s)
mkdir -p "$dir"
work="$(mktemp -d "$dir/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/x"
echo "deb $mirror bookworm non-free" >"$work/sources.list"

# A private apt: its own sources list, package lists and cache; no
# sources.list.d, no preferences. As root, apt would hand the download to the
# _apt user, who cannot write into a home directory's cache.
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=/dev/null"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Debug::NoLocking=1"
)
if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-o "APT::Sandbox::User=root"); fi

say "apt-get update (private list: $mirror bookworm non-free)"
apt-get "${apt_opts[@]}" -qq update
version="$(apt-cache "${apt_opts[@]}" show "$pkg" | sed -n 's/^Version: //p' | head -1)"
[ -n "$version" ] || { say "$pkg not found in bookworm non-free"; exit 1; }

say "downloading $pkg $version"
t0=$(date +%s)
(cd "$work" && apt-get "${apt_opts[@]}" -qq download "$pkg")
deb="$(ls "$work"/"$pkg"_*.deb)"
t1=$(date +%s)
say "downloaded $(du -h "$deb" | cut -f1) in $((t1 - t0)) s"

# cuda.h sits in usr/include; the stub in usr/lib/x86_64-linux-gnu/stubs
# (matched loosely in case a later revision moves it).
dpkg-deb --fsys-tarfile "$deb" |
  tar -x -C "$work/x" --wildcards --no-anchored 'include/cuda.h' '*stubs/libcuda.so'
t2=$(date +%s)
say "extracted in $((t2 - t1)) s"

hdr="$(find "$work/x" -path '*include/cuda.h' | head -1)"
stub="$(find "$work/x" -path '*stubs/libcuda.so' | head -1)"
[ -n "$hdr" ] || { say "cuda.h not in $deb"; exit 1; }
[ -n "$stub" ] || { say "stubs/libcuda.so not in $deb"; exit 1; }
mkdir -p "$dir/include" "$dir/lib"
# The stub may be a symlink inside the package; copy what it points to.
cp -L "$hdr" "$dir/include/cuda.h.tmp" && mv "$dir/include/cuda.h.tmp" "$dir/include/cuda.h"
cp -L "$stub" "$dir/lib/libcuda.so.tmp" && mv "$dir/lib/libcuda.so.tmp" "$dir/lib/libcuda.so"
echo "$pkg $version" >"$dir/VERSION"
say "cuda.h ($(du -h "$dir/include/cuda.h" | cut -f1)) and libcuda.so stub ($(du -h "$dir/lib/libcuda.so" | cut -f1)) in $dir; total $(( $(date +%s) - start )) s"
flags
