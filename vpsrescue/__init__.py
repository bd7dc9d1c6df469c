"""vpsrescue: from a hacked VPS in rescue mode to a fresh, hardened server.

The flow is rescue -> bundle -> triage -> restore -> verify; see docs/architecture.md.
"""

__version__ = "0.1.0"
