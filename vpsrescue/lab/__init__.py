"""The lab: two throwaway Debian servers (nspawn + network namespaces) on this machine.

lab-rescue plays the provider's rescue system with the old disk attached; lab-vps is
the fresh server. See docs/architecture.md and lifecycle.py.
"""
