"""`fab harden`: the hardening roles on the restored server (also the last step of
`fab restore` unless --no-harden)."""
