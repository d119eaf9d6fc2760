"""Where the repository and its sample clips are, for tests at any depth."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
# Real recorded speech with references (shared/media/real/speech/references.json), beside the checkout
# as on the developers' machines and in CI; tests that need it skip where it is absent.
REAL_SPEECH = REPO.parent / "shared" / "media" / "real" / "speech"
