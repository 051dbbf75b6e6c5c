"""Outside systems of digitalasset behind one interface each (the chain)."""
