"""The pure core: what a sync decides, with no I/O of its own.

`model` (the values: local files, remote entries, states), `planner` (local + remote +
journal facts -> a plan of actions), `routing` and `printer_models` (which files a
printer is meant to hold), `targets` (what a G-code file was sliced for), `space`
(whether a plan fits the printer's free space), `units`.
"""
