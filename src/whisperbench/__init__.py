"""whisperbench: measure what OpenAI Whisper costs through Hugging Face transformers."""

__version__ = "0.1.0"
