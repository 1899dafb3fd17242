"""The core of each CLI command: options in, result objects out, no printing."""
