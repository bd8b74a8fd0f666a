from ptycho_nl.cli import main

main()
