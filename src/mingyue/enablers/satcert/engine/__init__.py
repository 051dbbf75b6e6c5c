"""satcert engines: pure test-bench logic (NMEA, accuracy, AT, plans); import only mingyue.sdk.errors."""
