"""Restore: rebuild the site on a fresh server from the bundle alone.

plan.py decides (from manifest, facts and triage) what is restored and how;
secrets.py makes the new credentials once and keeps them in a 0600 file.
"""
