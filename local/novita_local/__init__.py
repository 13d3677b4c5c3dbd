"""The embedded local stack: Novita simulator, local AWS engine, demo and the command line."""
