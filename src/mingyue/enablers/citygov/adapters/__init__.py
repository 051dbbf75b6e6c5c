"""Outside systems of citygov behind small interfaces (the MQTT broker)."""
