"""Pure download and model engines (yt-dlp, faster-whisper, OCR); no Dagster here."""
