//! The command line: flags, dispatch, output and exit codes.
