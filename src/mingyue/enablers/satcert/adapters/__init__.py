"""satcert adapters: the DUT transport (serial, pty, socket) and the simulated module's ports."""
