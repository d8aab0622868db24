"""Whisper models: registry of sizes, loading from named weights sources, and conversion."""
