"""Each setting is declared once (settings.py), in one group, checked at start-up, documented where users look,
and reaches its resource."""

from __future__ import annotations

import ast
import re

import pytest
from pydantic import ValidationError

from tests.support.paths import REPO
from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.resources import (
    RESOURCE_CLASSES,
    CaptionsResource,
    FrameSamplingResource,
    build_resources,
    fed_settings,
)
from wandr_pipeline.settings import Settings, SettingsGroup, WhisperSettings, environment_variables

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Variables that libraries or the platform define and read themselves: named in one place each, not ours.
PROCESS_CONVENTIONS = {
    "DAGSTER_HOME",
    "FFMPEG_BINARY",
    "STORAGE_EMULATOR_HOST",
    "HF_HUB_OFFLINE",
    "ORT_DISABLE_TELEMETRY",
}


def _doc_rows() -> dict[str, str]:
    """Every configuration table row of the docs, by each variable it names first in its row."""
    rows: dict[str, str] = {}
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("| `") or len(cells) < 3:
                continue
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
                rows.setdefault(name, line)
    return rows


def _documented_default(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def test_every_setting_has_a_row_in_the_docs_with_its_default_and_aliases():
    rows = _doc_rows()
    missing, wrong = [], []
    for name, (env, aliases) in environment_variables().items():
        row = rows.get(env)
        if row is None:
            missing.append(env)
            continue
        for alias in aliases:
            if f"`{alias}`" not in row:
                wrong.append(f"{env}: alias {alias} not in its row")
        default = Settings.model_fields[name].default
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if default not in ("", ()) and " / " not in cells[0]:
            if f"`{_documented_default(default)}`" not in cells[1]:
                wrong.append(f"{env}: default {default!r} not shown in {cells[1]!r}")
    assert not missing, f"settings without a documentation row: {missing}"
    assert not wrong, wrong


def test_every_documented_variable_is_a_setting_or_a_known_convention():
    known = {env for env, _ in environment_variables().values()}
    known |= {alias for _, aliases in environment_variables().values() for alias in aliases}
    deploy_only = {
        "DAGSTER_PG_HOST",
        "WANDR_LOGS_BUCKET",
        "WANDR_IMAGE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
    }
    stray = [
        name
        for name in _doc_rows()
        if name not in known | PROCESS_CONVENTIONS | deploy_only
        and (name.startswith("WANDR_") or name.startswith(("WHISPER_", "OCR_", "VISION_", "YTDLP_")))
    ]
    assert not stray, f"documented variables that no setting reads: {stray}"


def test_no_module_but_settings_reads_the_environment():
    """Only settings.py reads the settings' variables; elsewhere only the libraries' own conventions."""
    reads = []
    for path in (REPO / "wandr_pipeline").rglob("*.py"):
        if path == REPO / "wandr_pipeline" / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = _environment_read(node)
            if name is not None and name not in PROCESS_CONVENTIONS:
                reads.append(f"{path.relative_to(REPO)}:{node.lineno} reads {name}")
    assert not reads, reads


def _environment_read(node: ast.AST) -> str | None:
    """The variable `node` reads: os.environ[...], os.environ.get/setdefault/pop(...), os.getenv(...),
    EnvVar(...); a computed name comes back as '?'."""

    def constant(arg: ast.AST) -> str:
        return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "?"

    def is_environ(value: ast.AST) -> bool:
        return isinstance(value, ast.Attribute) and value.attr == "environ"

    if isinstance(node, ast.Subscript) and is_environ(node.value):
        return constant(node.slice)
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop") and is_environ(func.value):
            return constant(node.args[0])
        if (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
            isinstance(func, ast.Name) and func.id in ("getenv", "EnvVar")
        ):
            return (
                None
                if isinstance(func, ast.Name) and func.id == "EnvVar" and constant(node.args[0]) == "?"
                else constant(node.args[0])
            )
    return None


def test_resource_fields_take_default_and_description_from_their_setting():
    for resource_class in RESOURCE_CLASSES.values():
        for field_name, setting_name in fed_settings(resource_class).items():
            field, setting = resource_class.model_fields[field_name], Settings.model_fields[setting_name]
            default = field.get_default(call_default_factory=True)
            assert default == (list(setting.default) if isinstance(setting.default, tuple) else setting.default)
            assert field.description == setting.description


@pytest.mark.parametrize(
    "env, value, resource, field, expected",
    [
        ("VISION_IMAGES_PER_MINUTE", "77", "ocr", "vision_images_per_minute", 77),
        ("FRAME_SAMPLE_RATE", "15", "frame_sampler", "every_n_frames", 15),  # the original service's name
        ("MAX_VIDEO_SIZE_MB", "12", "downloader", "max_filesize_mb", 12.0),
        ("WHISPER_VAD", "false", "whisper", "vad", False),
        ("WANDR_LOCAL_INPUT_ROOTS", "/a, /b", "downloader", "local_input_roots", ["/a", "/b"]),
        ("WHISPER_CAPTION_HINTS", "OFF", "captions", "transcript_hints", "off"),
    ],
)
def test_an_environment_variable_reaches_its_resource(monkeypatch, env, value, resource, field, expected):
    monkeypatch.setenv(env, value)
    assert getattr(build_resources(Settings.from_env())[resource], field) == expected


def test_definitions_use_the_settings_they_are_built_with(monkeypatch):
    monkeypatch.setenv("WANDR_PARTITIONS_PER_RUN", "50")
    defs = build_definitions(Settings.from_env(partitions_per_run=7, gpu_accelerator="nvidia-h100", k8s_gpu_tags=True))
    transcript = defs.resolve_assets_def("transcript")
    assert transcript.backfill_policy.max_partitions_per_run == 7
    assert "nvidia-h100" in transcript.op.tags["dagster-k8s/config"]
    assert "nvidia-h100" in defs.resolve_job_def("gpu_stages").tags["dagster-k8s/config"]
    local = build_definitions(Settings.from_env())  # runs that do not go to Kubernetes carry no k8s config
    assert "dagster-k8s/config" not in local.resolve_job_def("gpu_stages").tags
    assert local.resolve_job_def("gpu_stages").tags["wandr/compute"] == "gpu"
    assert (
        "partitions_per_run" not in str(defs.resolve_sensor_def("downstream_batch_sensor").description)
        and "of up to 7 videos" in defs.resolve_sensor_def("downstream_batch_sensor").description
    )


def test_an_invalid_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WHISPER_BATCH_SIZE", "eight")
    with pytest.raises(ValueError, match="WHISPER_BATCH_SIZE"):
        Settings.from_env()


@pytest.mark.parametrize(
    "env, value",
    [
        ("OCR_ENGINE", "tesseract"),
        ("OCR_DEVICE", "tpu"),
        ("WHISPER_DEVICE", "gpu"),
        ("WHISPER_COMPUTE_TYPE", "float8"),
        ("WHISPER_CROSS_CLIP", "sometimes"),
        ("WHISPER_CAPTION_HINTS", "always"),
        ("WHISPER_CHINESE_SCRIPT", "pinyin"),
        ("WANDR_FRAME_DECODER", "vaapi"),
        ("LOG_LEVEL", "LOUD"),
        ("WANDR_FRAME_EVERY_N", "0"),
        ("OCR_MIN_CONFIDENCE", "1.5"),
        ("WHISPER_CHUNK_S", "31"),
        ("WHISPER_VAD_THRESHOLD", "-0.1"),
        ("WANDR_PARTITIONS_PER_RUN", "0"),
        ("VISION_TIMEOUT_S", "0"),
        ("PORT", "70000"),
    ],
)
def test_a_value_outside_its_choices_or_bounds_fails_at_start_up_naming_the_variable(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=env):
        Settings.from_env()


def test_choices_are_read_the_way_people_write_them(monkeypatch):
    for env, value in {"OCR_ENGINE": " Google ", "WHISPER_CROSS_CLIP": "on", "LOG_LEVEL": "warn"}.items():
        monkeypatch.setenv(env, value)
    settings = Settings.from_env()
    assert (settings.ocr_engine, settings.whisper_cross_clip, settings.log_level) == (
        "google-vision",
        "true",
        "WARNING",
    )
    assert build_resources(settings)["whisper"].cross_clip == "true"


def test_the_ocr_engine_is_named_as_the_tables_name_it_and_its_old_names_still_work(monkeypatch, caplog):
    import wandr_pipeline.settings
    from wandr_pipeline.defs.resources.ocr import OcrResource

    monkeypatch.setattr(wandr_pipeline.settings, "_ocr_names_explained", set())  # said once per process
    monkeypatch.setenv("OCR_ENGINE", "rapidocr")
    assert Settings.from_env().ocr_engine == "rapidocr"
    assert Settings().ocr_engine == "rapidocr"  # the default
    for old, new in {"local": "rapidocr", "Google": "google-vision"}.items():
        monkeypatch.setenv("OCR_ENGINE", old)
        with caplog.at_level("WARNING"):
            assert Settings.from_env().ocr_engine == new
        assert f"set OCR_ENGINE={new}" in caplog.text
    assert OcrResource(engine="local", min_confidence=0.5).get_engine().name == "rapidocr"  # a run's old config


def test_every_setting_is_declared_once_in_one_group_and_its_view_is_frozen():
    groups = [cls for cls in Settings.__mro__ if issubclass(cls, SettingsGroup) and SettingsGroup in cls.__bases__]
    owners: dict[str, list[str]] = {}
    for group in groups:
        for name in group.model_fields:
            owners.setdefault(name, []).append(group.__name__)
    assert set(owners) == set(Settings.model_fields)  # no setting outside a group
    assert not {name: names for name, names in owners.items() if len(names) > 1}
    settings = Settings.from_env(whisper_beam_size=2, lake_commit_videos=7)
    assert isinstance(settings.whisper, WhisperSettings) and settings.whisper.whisper_beam_size == 2
    assert settings.lake.lake_commit_videos == 7 and not isinstance(settings.lake, Settings)
    with pytest.raises(ValidationError):
        settings.whisper.whisper_beam_size = 3
    views = ("storage", "runs", "whisper", "ocr", "captions", "frames", "download", "ingestion", "lake", "gpu", "api")
    assert {type(getattr(settings, view)) for view in views} == set(groups)  # every group has its view


def test_a_resource_field_keeps_the_bounds_of_its_setting():
    with pytest.raises(ValidationError):
        FrameSamplingResource(every_n_frames=0)
    with pytest.raises(ValidationError):
        CaptionsResource(min_line_confidence=1.5)
