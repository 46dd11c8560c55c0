#!/usr/bin/env python3
"""Drives `sov agent` (interactive) through a pseudo-terminal, as a person at a keyboard would:
types a task, presses Ctrl-C while the command it started runs, types a second task, then Ctrl-D.

    agent_tty.py SOV WORKDIR MODEL_URL

The environment is passed on. Prints one JSON object: what was seen, when, and the exit status.
"""
import json
import os
import pty
import select
import sys
import time

sov, workdir, url = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(workdir)
    os.execv(sov, [sov, "agent", "--url", url, "--tool-url", "http://127.0.0.1:1"])

screen = b""


def wait_for(text, timeout=30):
    global screen
    end = time.time() + timeout
    while time.time() < end:
        if text.encode() in screen:
            return True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                screen += os.read(fd, 4096)
            except OSError:
                return text.encode() in screen
    return False


result = {"prompt": wait_for("› ")}
os.write(fd, b"wait for the long command\r")
result["tool_call_shown"] = wait_for("→ bash")
time.sleep(0.5)
pressed = time.time()
os.write(fd, b"\x03")
result["cancelled"] = wait_for("[cancelled]")
result["cancel_seconds"] = round(time.time() - pressed, 2)
screen = b""
os.write(fd, b"and now?\r")
result["second_answer"] = wait_for("second task answered")
os.write(fd, b"\x04")
end = time.time() + 10
status = None
while time.time() < end and status is None:
    done, code = os.waitpid(pid, os.WNOHANG)
    if done:
        status = os.waitstatus_to_exitcode(code)
    else:
        wait_for("\0", 0.2)
result["exit_status"] = status
print(json.dumps(result))
