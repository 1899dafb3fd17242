"""link-sync: keep every printer of a 3D-print farm in line with one master folder."""

from __future__ import annotations

__version__ = "0.3.0.dev0"

__all__ = ["__version__"]
