"""Cited work out: an answer or a summary as Markdown with footnotes, and a BibTeX file of
the documents it cites (the shared code is research/library/bibliography.py)."""
