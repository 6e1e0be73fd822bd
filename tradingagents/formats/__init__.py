"""Format files (FORMAT_MODULE_PATH): the admin's own date and time displays (read-only
fields, the lists' dates) in tradingagents.formatting's one format."""
