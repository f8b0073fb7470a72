"""The `segnet` command line: one module per subcommand, on top of the library."""
