"""The engine: runs printers. `session.Session` is its one driver (used by `sync`,
`plan`, `status`, `pull` and `watch`); `run.run_printer` is one printer's run, in
phases (`probe`, `planning`, `transfer`, `prune`) that share a `context.RunContext`.
`options.SyncOptions` carries a run's settings, `events.Observer` hears its progress.
"""
