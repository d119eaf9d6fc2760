"""Where the repository and its sample clips are, for tests at any depth."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
# Real recorded speech with references (references.json), copied into the repository with its licences
# (data/real/README.md), so the tests never depend on a folder outside the checkout.
REAL_SPEECH = REPO / "data" / "real" / "speech"
