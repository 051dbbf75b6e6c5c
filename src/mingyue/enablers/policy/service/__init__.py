"""Use cases of policy: the corpus and Q&A (corpus.py, qa.py), push, dispatch, indicators."""
