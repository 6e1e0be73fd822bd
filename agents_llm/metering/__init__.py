"""Room: what model responses cost (pricing.py), how many tokens a prompt is
(tokens.py), sessions and their budgets (sessions.py), and the record of every gateway
call (calls.py)."""
