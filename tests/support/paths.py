"""Where the repository and its sample clips are, for tests at any depth."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
