"""Test doubles for what cannot run here: a local HTTP server speaking Ollama's protocol."""
