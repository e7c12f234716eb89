"""The `tickwork` command line: `main` holds the app and its commands; `lcfs`, `documents` and
`audit` hold their command groups."""
