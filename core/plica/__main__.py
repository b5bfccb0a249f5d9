from plica.cli.main import main

main()
