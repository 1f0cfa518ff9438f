"""One module per `rnnbench` sub-command: `add_parser(subparsers)` and `run(args)`."""
