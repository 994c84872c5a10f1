"""The read-only runbook blocks: ``status`` (Quick Status Check), ``capture`` (Pre-Rollback Checklist),
``verify`` + ``junit`` (Post-Rollback Verification), ``triage`` + ``decision`` (the Decision Tree) and
``wait`` (Monitor rollback). Nothing here changes AWS; ``capture`` writes files only.
"""
