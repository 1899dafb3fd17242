"""Printer backends: one module per printer API, all behind `base.Backend`."""
