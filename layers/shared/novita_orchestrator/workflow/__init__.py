"""Pure decisions of the startup workflow (no I/O): what the Lambdas decide, testable alone."""
