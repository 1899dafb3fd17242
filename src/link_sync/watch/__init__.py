"""`link-sync watch`: keep every printer in line with the master folder, continuously.

- `master.py`   the master folder -> settled views (filesystem events or polling, settle,
                periodic rescan, a vanished or emptied master reported as unavailable)
- `netfs.py`    is a folder on a network filesystem (no inotify events)?
- `farm.py`     the farm under watch: the master watchers, one worker per printer, and the
                engine's driver (`engine.session.Session`) that runs every pass
- `scheduler.py` when each printer syncs: its worker polls its state, has the driver sync
                it when it is idle and out of date, backs off when it is unreachable
- `kept_backend.py` a printer's backend kept open between its syncs and polls
- `output.py`   renderers of the watch's events: plain lines, JSON Lines (--json), the
                live farm table
- `run.py`      the command: start checks, lock, journal, signals, reload
- `cli.py`      the click command
- `state.py`    the live farm state: each printer's view, what changed since when (the
                web page, the API and the renderers read it)
- `events.py`   the watch's events: their names, the record, the ring readers follow
- `observer.py` the sync engine's callbacks turned into views and events
"""
