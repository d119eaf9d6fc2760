"""Pure download and model engines (yt-dlp, faster-whisper, OCR) and the readiness checks over them; no Dagster here."""
