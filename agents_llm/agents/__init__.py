"""Room: agents, their LLM configs, aliases and presets, the tasks they answer (and
who may answer which), and each agent's chain of models (chain.py), which runs and
the gateway both use."""
