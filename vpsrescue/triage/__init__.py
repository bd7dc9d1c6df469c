"""Triage: find what the intruder left before anything is restored.

model.py (Finding, Context), system/ (accounts, persistence, files, logs), wordpress.py
and database.py (the checks), run.py (run them over a bundle or an old root and say
what was looked at), report.py (JSON, Markdown, HTML and the quarantine list in the
bundle's triage/), cli.py (what `fab triage` prints).
"""
