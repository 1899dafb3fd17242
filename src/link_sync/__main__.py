from link_sync.cli import main

main()
