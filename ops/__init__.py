"""The sandbox-broker rollback toolkit: plain functions under the thin Invoke tasks in tasks.py."""
