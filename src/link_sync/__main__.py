from link_sync.cli import main

main(prog_name="link-sync")
