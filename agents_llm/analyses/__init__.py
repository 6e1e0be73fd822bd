"""Analyses: TradingAgents v0.3.0 run from the control room, one session each."""
