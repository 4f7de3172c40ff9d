#!/usr/bin/env bash
# Builds bin/gpu-bundle: what a GPU machine with only the NVIDIA driver (no
# Go, no FFmpeg, no CUDA toolkit) needs to run gotrickle's GPU checks, and
# run.sh (CI/gpu-run.sh), which runs them there:
#
#   1. pkg/gpu: every kernel against its reference, the plumbing (make test-gpu);
#   2. pkg/media: NVDEC decoding as software does (TestNVDECDecodesLikeSoftware);
#   3. pkg/processor: the device path on CUDA, software-decoded and on NVDEC;
#   4. benchmarks: the 1080p kernel chain, and the processor flat out on the
#      host path, the device path and the device path with NVDEC, one run.
#
# The test binaries of 2-4 link Debian bookworm's FFmpeg. Its shared
# libraries come along in lib/, with bookworm's loader (the binaries' ELF
# interpreter and rpath point at /tmp/gotrickle-gpu/lib, where run.sh copies
# lib/, so they run whatever the machine's own C library is). The libraries
# the checks never call (other codecs' libraries, FFmpeg's devices and
# filters and what they need: about 200 MB) are replaced by stand-ins that
# only export the same symbols (CI/stublib.py), so the bundle fits what a
# device call can carry (64 MiB).
#
#   bash CI/gpu-bundle.sh [--check]  # here: bin/gpu-bundle and bin/gpu-bundle.tar.xz;
#                                    # --check also decodes with the bundled libraries (CI)
#   tar -xJf bin/gpu-bundle.tar.xz -C /tmp && bash /tmp/gpu-bundle/run.sh
#                                    # there: the device call carries the tarball
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
out=bin/gpu-bundle
there=/tmp/gotrickle-gpu # also in CI/gpu-run.sh

eval "$(bash CI/install-cuda-headers.sh | tail -2)"
export CGO_CFLAGS CGO_LDFLAGS
rm -rf "$out"
mkdir -p "$out/lib"

ld='-s -w -extldflags "-Wl,--dynamic-linker='"$there"'/lib/ld-linux-x86-64.so.2 -Wl,--disable-new-dtags -Wl,-rpath,'"$there"'/lib"'
$GO test -c -tags cuda -ldflags "$ld" -o "$out/gpu.test" ./pkg/gpu/
$GO test -c -ldflags "$ld" -o "$out/media.test" ./pkg/media/
$GO test -c -tags cuda -ldflags "$ld" -o "$out/processor.test" ./pkg/processor/
$GO test -c -tags cuda -ldflags "$ld" -o "$out/benchmarks.test" ./benchmarks/

# Libraries no check calls: FFmpeg's devices and filters, the codecs other
# than H.264, AAC and Opus, network protocols, hardware APIs but CUDA's
# (loaded by FFmpeg itself, from the driver). Not libgme: its demuxer's
# probe runs on every probe of a stream and takes a string from it.
stubs='libavdevice.so.59 libavfilter.so.8 libcodec2.so.1.0 libx265.so.199 librsvg-2.so.2 libSvtAv1Enc.so.1
libaom.so.3 libjxl.so.0.7 libvpx.so.7 librav1e.so.0 libxml2.so.2 libopenmpt.so.0 libdav1d.so.6 libzvbi.so.0
libbluray.so.2 libssh-gcrypt.so.4 libgnutls.so.30 libsrt-gnutls.so.1.5 librabbitmq.so.4 libzmq.so.5
libchromaprint.so.1 libva.so.2 libva-drm.so.2 libva-x11.so.2 libvdpau.so.1 libX11.so.6 libOpenCL.so.1 libwebp.so.7
libwebpmux.so.3 libtheoraenc.so.1 libtheoradec.so.1 libvorbis.so.0 libvorbisenc.so.2 libmp3lame.so.0 libshine.so.3
libsnappy.so.1 libsoxr.so.0 libspeex.so.1 libtwolame.so.0 libgsm.so.1 libopenjp2.so.7 libvpl.so.2 libmfx.so.1
libdrm.so.2 libxvidcore.so.4 libudfread.so.0'

# The libraries the binaries load, from the top: a stubbed one's own needs
# are left out.
needed() { readelf -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# Where this machine keeps each library (not ldd of the binaries: their
# rpath would find an earlier bundle's copies in $there).
declare -A path
while read -r name p; do
  [ -z "${path[$name]:-}" ] && path[$name]="$p"
done < <(ldconfig -p | sed -n 's/^\s*\(\S*\) (libc6,x86-64[^)]*) => \(.*\)$/\1 \2/p')
declare -A seen
todo=($(for b in media processor benchmarks; do needed "$out/$b.test"; done))
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
while [ "${#todo[@]}" -gt 0 ]; do
  n="${todo[0]}"; todo=("${todo[@]:1}")
  [ -n "${seen[$n]:-}" ] && continue
  seen[$n]=1
  case "$n" in libcuda.so.1 | ld-linux-x86-64.so.2) continue ;; esac # the driver's; the loader, below
  p="${path[$n]:-}"
  [ -n "$p" ] || { echo "gpu-bundle: no path for $n" >&2; exit 1; }
  if grep -qxF "$n" <<<"$(tr ' ' '\n' <<<"$stubs")"; then
    so="$(python3 CI/stublib.py "$p" "$work")"
    gcc -shared -fPIC -w -o "$out/lib/$so" -Wl,-soname,"$so" -Wl,--version-script="$work/stub.map" "$work/stub.c"
    continue
  fi
  cp -L "$p" "$out/lib/$n"
  todo+=($(needed "$p"))
done
cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib/"

# The benchmarks' 720p input, made here with the ffmpeg CLI (the GPU
# machine has none): the same commands as benchmarks/media_test.go.
size=1280x720
mkdir -p "$out/inputs/$size"
ffmpeg -v error -nostdin -y -f lavfi -i "testsrc2=size=$size:rate=30:duration=10" -vf noise=alls=12:allf=t+u \
  -c:v libx264 -preset veryfast -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -b:v 3M -an -f mpegts "$out/inputs/$size/in.ts"
ffmpeg -v error -nostdin -y -i "$out/inputs/$size/in.ts" -c copy -f segment -segment_time 1 -segment_format mpegts \
  "$out/inputs/$size/%d.ts"

cp CI/gpu-run.sh "$out/run.sh"
chmod +x "$out/run.sh"
# What a device call carries (64 MiB at most): the folder packed.
tar -C bin -cf - gpu-bundle | xz -T0 -6 >bin/gpu-bundle.tar.xz
echo "gpu-bundle: $out is $(du -sh "$out" | cut -f1) ($(ls "$out/lib" | wc -l) libraries), bin/gpu-bundle.tar.xz $(du -h bin/gpu-bundle.tar.xz | cut -f1)"
echo "gpu-bundle: on the GPU machine: tar -xJf bin/gpu-bundle.tar.xz -C /tmp && bash /tmp/gpu-bundle/run.sh"

# --check: the bundle's FFmpeg-linked binary decodes, encodes and finds
# every library among the bundled ones (the stand-ins included), here.
if [ "${1:-}" = --check ]; then
  rm -rf "$there" && mkdir -p "$there" && cp -r "$out/lib" "$there/"
  if ldd "$out/media.test" | grep -v "$there/lib/" | grep -q '=>'; then
    echo "gpu-bundle: media.test loads libraries from outside the bundle:" >&2
    ldd "$out/media.test" | grep -v "$there/lib/" >&2
    exit 1
  fi
  (cd pkg/media && "../../$out/media.test" -test.count=1 \
    -test.run 'TestRawFramesShowWhatTheConvertedOnesShow|TestCUDAThatCannotOpenFailsWithItsReason|TestEncoder|TestDecode')
  rm -rf "$there"
  echo "gpu-bundle: check passed"
fi
