"""The shared core of mingyue: identity, access, ledger, cases, jobs, metering, credentials, files."""
