#!/usr/bin/env bash
# Run ON the GPU machine of the `device` tool (from the repository root, as its `run` does).
#   bash benchmarks/gpu/run_on_device.sh stage        # keep this call's carried chunk(s) in /tmp/wandr_carry
#   bash benchmarks/gpu/run_on_device.sh run [ARGS]   # stage, join, install, check, benchmark -> $OUT
# The payload comes from benchmarks/gpu/prepare_carry.sh (here); docs/BENCHMARKS.md lists the calls.
# Files written under /tmp stay only while the machine is warm (30 s after a call): make the calls
# back to back.
set -uo pipefail
STORE=/tmp/wandr_carry
OUT=${OUT:-/tmp/wandr_out}
mkdir -p "$STORE" "$OUT"

stage() {
  local n=0
  for part in .gpu_carry/c*/part-* .gpu_carry/c*/SHA256SUMS; do
    [[ -f "$part" ]] || continue
    cp "$part" "$STORE/" && n=$((n + 1))
  done
  echo "staged $n file(s); now in $STORE: $(ls "$STORE" | tr '\n' ' ')"
}

cuda_compat() {
  # CTranslate2's wheels load CUDA 12's cuBLAS (libcublas.so.12) and cuDNN 9; this image's torch
  # brings CUDA 13. Point the CUDA 12 names at what is there (dlsym by name), and add cuDNN's folder.
  local compat=/tmp/cudacompat dirs=""
  mkdir -p "$compat"
  if ! ldconfig -p | grep -q 'libcublas.so.12'; then
    for name in libcublas libcublasLt; do
      local found
      found=$(find / -xdev \( -name "$name.so.12*" -o -name "$name.so.13*" \) -not -path '/proc/*' 2>/dev/null | sort | head -1)
      [[ -n "$found" ]] && ln -sf "$found" "$compat/$name.so.12" && dirs="$dirs:$(dirname "$found")"
    done
  fi
  local cudnn
  cudnn=$(find / -xdev -name 'libcudnn.so.9*' -not -path '/proc/*' 2>/dev/null | head -1)
  [[ -n "$cudnn" ]] && dirs="$dirs:$(dirname "$cudnn")"
  # torchcodec wants FFmpeg's shared libraries by their usual names: PyAV's wheel bundles FFmpeg's.
  mkdir -p /tmp/ffcompat
  for lib in /tmp/site/av.libs/lib{avcodec,avformat,avutil,avfilter,avdevice,swscale,swresample}-*.so.*; do
    [[ -f "$lib" ]] || continue
    local base major stem
    base=$(basename "$lib"); stem=${base%%-*}; major=$(echo "$base" | sed -E 's/.*\.so\.([0-9]+).*/\1/')
    ln -sf "$lib" "/tmp/ffcompat/$stem.so.$major"
  done
  export LD_LIBRARY_PATH="$compat$dirs:/tmp/ffcompat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
}

run() {
  stage
  (cd "$STORE" && sha256sum -c SHA256SUMS) || { echo "payload incomplete: carry every chunk first"; exit 3; }
  rm -rf "$STORE/x" && mkdir -p "$STORE/x"
  cat "$STORE"/part-* | tar -x -C "$STORE/x" || exit 3
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$STORE"/x/wheels/*.whl || exit 3
  export PYTHONPATH="/tmp/site:$PWD" HF_HUB_OFFLINE=1 ORT_DISABLE_TELEMETRY=1 PYTHONUNBUFFERED=1
  export WHISPER_MODEL="$STORE/x/models/tiny.en"
  cuda_compat
  nvidia-smi | tee "$OUT/nvidia-smi.txt"
  # Does CTranslate2 run Whisper on the GPU here? If not, say why; the benchmark then runs on the CPU.
  python3 - <<'PY' 2>&1 | tee "$OUT/cuda_probe.txt"
import os, numpy as np
from faster_whisper import WhisperModel
try:
    m = WhisperModel(os.environ["WHISPER_MODEL"], device="cuda", compute_type="float16", local_files_only=True)
    segs, _ = m.transcribe(np.zeros(16000, np.float32)); list(segs)
    print("ctranslate2 cuda: OK")
except Exception as e:
    print("ctranslate2 cuda: FAILED:", repr(e)[:500])
try:
    from torchcodec.decoders import VideoDecoder  # noqa
    print("torchcodec: OK")
except Exception as e:
    print("torchcodec: FAILED:", repr(e)[:500])
PY
  grep -q "ctranslate2 cuda: OK" "$OUT/cuda_probe.txt" || export WHISPER_DEVICE=cpu
  python3 -m wandr_pipeline.cli.main doctor 2>&1 | tee "$OUT/doctor.txt"
  python3 -m benchmarks.gpu.bench_gpu --out "$OUT/gpu.json" "$@" 2>&1 | grep -v Warning | tee "$OUT/bench.log"
}

case "${1:-}" in
  stage) stage ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 stage | run [bench_gpu.py args]"; exit 2 ;;
esac
