"""The data-fusion sandbox engine: plain inputs (paths, specs, SQL) in, typed results out."""
