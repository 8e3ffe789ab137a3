from onhand.cli import main

main()
