"""Writing to zvt's databases: engine tuning and the one bulk upsert every recorder uses."""
