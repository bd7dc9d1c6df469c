"""`fab report`: the incident report of one bundle (docs/disaster-recovery.md)."""
