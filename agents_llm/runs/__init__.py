"""Room: runs, one agent answering one task through PydanticAI, queued for a worker
(actors.py) or inline for an API caller, with the sweeps that recover lost runs."""
