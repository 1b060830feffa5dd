"""Local emulators of the trackers pmohub talks to (used by tests, benchmarks and `pmohub demo`)."""
