from idsync.cli import main

main()
