"""Dockerfile.gpu cannot be built here (no Docker engine): check its structure instead."""

from __future__ import annotations

import re
import shlex
import tomllib

from tests.support.paths import REPO
from wandr_pipeline.engines.whisper_models import KNOWN_MODELS


def _instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile.gpu").read_text()
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)  # join continuation lines (and comments inside them)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _args(instructions) -> dict[str, str]:
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
    return args


def test_base_image_is_cuda_cudnn_runtime_with_the_project_python():
    instructions = _instructions()
    args = _args(instructions)
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms == ["${CUDA_IMAGE}"]
    image = args["CUDA_IMAGE"]
    assert image.startswith("nvidia/cuda:12.") and "cudnn" in image and "runtime" in image
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires and "<3.12" in requires
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "python3.11 -m venv" in runs and "ffmpeg" in runs


def test_whisper_model_is_baked_at_build_time_and_selectable():
    instructions = _instructions()
    args = _args(instructions)
    assert args["WHISPER_MODEL"] in KNOWN_MODELS
    [bake] = [rest for keyword, rest in instructions if keyword == "RUN" and "download_model" in rest]
    assert '"${WHISPER_MODEL}"' in bake and "HF_HUB_OFFLINE=0" in bake and "model.bin" in bake
    snippet = shlex.split(bake.split("python -c", 1)[1])[0]
    compile(snippet, "Dockerfile.gpu", "exec")
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "WHISPER_MODEL=/opt/models/${WHISPER_MODEL}" in env
    assert "HF_HUB_OFFLINE=1" in env  # nothing downloads at run time
    bake_index = next(i for i, (k, r) in enumerate(instructions) if k == "RUN" and "download_model" in r)
    offline_index = next(i for i, (k, r) in enumerate(instructions) if k == "ENV" and "HF_HUB_OFFLINE=1" in r)
    assert bake_index < offline_index


def test_installs_the_gpu_engines_and_copies_only_existing_files():
    instructions = _instructions()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    extras = set(re.search(r'pip install "\.\[([a-z,]+)\]"', runs).group(1).split(","))
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert extras <= declared and {"gcp", "prod"} <= extras
    assert re.search(r'pip install "\.\[[a-z,]+\]" -c constraints\.txt', runs)  # the versions CI tested
    assert "pip uninstall -y onnxruntime" in runs and "onnxruntime-gpu" in runs
    assert "torchcodec" in runs and "wandr-pipeline doctor" in runs
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                assert (REPO / source).exists(), source
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
