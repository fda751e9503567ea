from virtdeck.cli.entry import main

main()
