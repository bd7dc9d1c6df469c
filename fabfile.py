"""Shim so that plain `fab` finds the tasks: Fabric looks for a module named
`fabfile` and a project fabric.yaml cannot change that. The tasks live in tasks.py."""

from tasks import ns  # noqa: F401
