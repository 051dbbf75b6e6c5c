"""policy adapters: outside engines behind small interfaces (a model endpoint)."""
