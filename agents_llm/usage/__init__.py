"""Room: reports over runs and gateway calls: usage by agent, provider, model, day or
session (selectors.py, the usage API), the dashboard, and the admin and API pages of
sessions and calls."""
