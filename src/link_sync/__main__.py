from link_sync.cli import run

run()
