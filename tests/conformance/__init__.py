"""The backend conformance suite: one behaviour, every target."""
