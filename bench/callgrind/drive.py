"""Drives a dchat server that runs under callgrind: sets up a user and a room with 70
messages (so the first 64-message block of history is final and cached), zeroes
callgrind's counters, sends N requests of one kind over one keep-alive connection, one
at a time, and dumps the counters. Only the standard library.

    python3 drive.py PORT VALGRIND_PID list|append N
"""
import http.client
import json
import random
import subprocess
import sys

port, pid, kind, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)


def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = connection.getresponse()
    data = response.read()
    if response.status >= 300 and response.status != 409:
        sys.exit(f"{method} {path}: {response.status} {data!r}")
    return json.loads(data) if data else {}


email = f"cg-{random.randrange(1 << 40)}@example.com"
call("POST", "/api/register", {"email": email, "password": "callgrind secret", "display_name": "Callgrind"})
token = call("POST", "/api/login", {"email": email, "password": "callgrind secret"})["token"]
call("POST", "/api/room/create", {"room_id": "callgrind", "name": "callgrind"}, token)
call("POST", "/api/room/join", {"room_id": "callgrind"}, token)
for i in range(70):
    call("POST", "/api/message/append", {"room_id": "callgrind", "text": f"warm-up {i:03d} hello"}, token)
page = "/api/message/list?room_id=callgrind&from_offset=1&limit=50"
call("GET", page, token=token)

subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
for i in range(count):
    if kind == "list":
        call("GET", page, token=token)
    else:
        call("POST", "/api/message/append", {"room_id": "callgrind", "text": f"hello there {i}"}, token)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
