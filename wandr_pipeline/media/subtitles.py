"""SubRip (.srt) and WebVTT (.vtt) files from timed text (transcript segments, caption spans)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    # Vertical position of the text on screen (0 = top, 1 = bottom), for WebVTT's `line` setting.
    line_position: float | None = None


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, int(round(seconds * 1000)))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _prepared(cues: Iterable[Cue], min_duration_s: float = 0.04) -> list[Cue]:
    """Cues in time order with text, each at least `min_duration_s` long (players drop empty ones)."""
    ready = []
    for cue in cues:
        text = "\n".join(line.strip() for line in (cue.text or "").splitlines() if line.strip())
        if not text:
            continue
        end = max(cue.end_s, cue.start_s + min_duration_s)
        ready.append(Cue(max(0.0, cue.start_s), end, text, cue.line_position))
    return sorted(ready, key=lambda c: (c.start_s, c.line_position if c.line_position is not None else 1.0))


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, blank-line separated."""
    blocks = []
    for number, cue in enumerate(_prepared(cues), start=1):
        blocks.append(f"{number}\n{_clock(cue.start_s, ',')} --> {_clock(cue.end_s, ',')}\n{cue.text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text; cues with a screen position get `line:NN%` so captions show where they were."""
    blocks = ["WEBVTT\n"]
    for cue in _prepared(cues):
        settings = ""
        if cue.line_position is not None:
            settings = f" line:{min(100, max(0, round(cue.line_position * 100)))}%"
        blocks.append(f"{_clock(cue.start_s, '.')} --> {_clock(cue.end_s, '.')}{settings}\n{_vtt_escape(cue.text)}\n")
    return "\n".join(blocks)


def split_text(text: str, max_chars: int = 84) -> list[str]:
    """Readable pieces of at most ~`max_chars`: cut at sentences, then clauses, then words; short
    sentences are packed together."""
    pieces: list[str] = []
    for sentence in re.split(r"(?<=[.!?…])\s+", text.strip()):
        while len(sentence) > max_chars:
            cut = max(sentence.rfind(", ", 0, max_chars), sentence.rfind("; ", 0, max_chars))
            cut = cut + 1 if cut > max_chars // 3 else sentence.rfind(" ", 0, max_chars)
            if cut <= 0:
                cut = max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    packed: list[str] = []  # short sentences share a cue
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= max_chars:
            packed[-1] = f"{packed[-1]} {piece}"
        else:
            packed.append(piece)
    return packed


def transcript_cues(segments: Iterable[dict], max_chars: int = 84) -> list[Cue]:
    """Cues from `transcript_segments` rows (start_s, end_s, text).

    Batched Whisper returns segments of up to ~30 s; each is cut into sentence-sized cues whose
    times split the segment's time in proportion to their length (players show two lines of ~42).
    """
    cues: list[Cue] = []
    for segment in segments:
        text, start, end = segment.get("text"), segment.get("start_s"), segment.get("end_s")
        if not text or start is None or end is None:
            continue
        pieces = split_text(text, max_chars)
        total = sum(len(piece) for piece in pieces) or 1
        at = float(start)
        for piece in pieces:
            length = (float(end) - float(start)) * len(piece) / total
            cues.append(Cue(round(at, 3), round(at + length, 3), piece))
            at += length
    return cues


def caption_cues(spans: Iterable[dict]) -> list[Cue]:
    """Cues from caption span rows; each placed at the height its box had on screen."""
    return [
        Cue(
            float(s["start_s"]),
            float(s["end_s"]),
            s["text"],
            line_position=float(s["box_y0"]) if s.get("box_y0") is not None else None,
        )
        for s in spans
        if s.get("text")
    ]
