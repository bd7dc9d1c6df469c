"""fab verify: prove the restored sites from outside (run.py)."""
