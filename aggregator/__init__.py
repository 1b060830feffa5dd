"""The hub: central store, sync engine, roll-ups, reports and the nightly pipeline."""
