"""Run ARGV as a child and write "<wall seconds> <ru_maxrss KiB> <exit code>" to RESULT_FILE.

A small launcher so that the child's peak RSS is its own: a child started (v)forked straight from
the big benchmark process inherits that process's RSS high-water mark at exec time.
Usage: python _launch.py RESULT_FILE ARGV...
"""
import os
import subprocess
import sys
import time

started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    out.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
