"""`link-sync watch`: keep every printer in line with the master folder, continuously.

- `master.py`   the master folder -> settled views (filesystem events or polling, settle,
                periodic rescan, a vanished or emptied master reported as unavailable)
- `netfs.py`    is a folder on a network filesystem (no inotify events)?
- `scheduler.py` one worker per printer: polls its state, syncs it when it is idle and
                out of date, backs off when it is unreachable
- `events.py`   the events a watch emits (one per line in the log, one JSON object with --json)
- `output.py`   renderers: plain lines, JSON Lines, the live farm table
- `run.py`      the command: start checks, lock, journal, signals, reload
- `cli.py`      the click command
- `state.py`    the live farm-state model the web page reads (owned by the web helper)
"""
