"""`fab checklist`: the disaster-recovery checklist of one incident (docs/checklist.md)."""
