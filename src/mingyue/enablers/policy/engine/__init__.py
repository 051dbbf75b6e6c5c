"""policy engines: clause segmentation, ingest, BM25, dense vectors, fusion, answers, evaluation.

Pure: plain inputs (text, bytes, clause lists) to typed results; no web, no database, no
globals but read-only caches. Imports nothing of the platform but ``mingyue.sdk.errors``.
"""
