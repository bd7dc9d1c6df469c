"""Triage: find what the intruder left before anything is restored.

model.py (Finding, Context), system.py / wordpress.py / database.py (the checks),
run.py (run them over a bundle or an old root), report.py (JSON, Markdown, HTML and the
quarantine list in the bundle's triage/).
"""
