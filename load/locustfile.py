"""The seed's variant 1 HTTP workload (Microservice-System's locustfile_http.py), against dchat.

Written to behave exactly as the seed's file does, so that a run of this one is a run of
that one: each simulated user registers with a fresh email and the password "secret", logs
in, creates room `locust_test` (every user does; after the first, dchat answers 200 with
`"created": false`) and joins it; then, waiting 0.5-1.5 s between tasks, it appends a
random 5-20 character text to `locust_test` and lists the room from offset 1 (limit 50),
in a 4:2 ratio. Any answer but a 2xx counts as a failure, as in the seed's file.

"secret" is shorter than dchat's default minimum, and the workload registers dozens of
users a second from one address, so start the server with:

    DCHAT_PASSWORD_MIN_CHARS=6 DCHAT_RATE_LIMIT=off cargo run --release -- serve

and run, for example:

    locust -f load/locustfile.py --host http://127.0.0.1:8080 --headless -u 100 -r 5 -t 1m

`load/smoke.sh` runs it (and the variant 2 workload) against `dchat serve` and the split
topology, failing on any failed request; CI runs that.
"""

import random
import string
import time

from locust import FastHttpUser, between, task

ROOM = "locust_test"


def fresh_email():
    return f"user_{int(time.time() * 1000)}{random.randint(1000, 9999)}@test.local"


def random_text():
    alphabet = string.ascii_letters + string.digits + " "
    return "".join(random.choices(alphabet, k=random.randint(5, 20)))


class ChatUser(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self):
        email = fresh_email()
        credentials = {"email": email, "password": "secret"}
        self.client.post("/api/register", json={**credentials, "display_name": email.split("@")[0]}, name="register")
        self.client.post("/api/login", json=credentials, name="login")
        self.client.post("/api/room/create", json={"room_id": ROOM, "name": ROOM.capitalize()}, name="room_create")
        self.client.post("/api/room/join", json={"room_id": ROOM}, name="room_join")

    @task(4)
    def send_message(self):
        self.client.post("/api/message/append", json={"room_id": ROOM, "text": random_text()}, name="send_message")

    @task(2)
    def fetch_history(self):
        self.client.get(f"/api/message/list?room_id={ROOM}&from_offset=1&limit=50", name="fetch_history")
