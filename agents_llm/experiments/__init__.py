"""Experiments: which model mix per role earns most per dollar (prices, outcomes, experiment grids and their results)."""
