"""The seed's HTTP workload (Microservice-System's locustfile_http.py), against dchat.

Each simulated user registers with a unique email and the password "secret", logs in,
creates (or finds) room `locust_test` and joins it; then, waiting 0.5-1.5 s between tasks,
appends a random 5-20 character text to `locust_test` and lists its messages from offset 1
with limit 50, in a 4:2 ratio.

dchat refuses passwords shorter than 8 characters and limits registrations per address by
default, so start the server for this workload with:

    DCHAT_PASSWORD_MIN_CHARS=6 DCHAT_RATE_LIMIT=off cargo run --release -- serve

and run, for example:

    locust -f load/locustfile.py --host http://127.0.0.1:8080 --headless -u 100 -r 5 -t 1m
"""

import random
import string
import uuid

from locust import HttpUser, between, task

ROOM = "locust_test"


def random_text():
    return "".join(random.choices(string.ascii_letters + " ", k=random.randint(5, 20)))


class ChatUser(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self):
        email = f"locust-{uuid.uuid4().hex}@example.com"
        self.client.post("/api/register", json={"email": email, "password": "secret", "display_name": email[:20]})
        self.client.post("/api/login", json={"email": email, "password": "secret"})
        with self.client.post(
            "/api/room/create", json={"room_id": ROOM, "name": "Locust_test"}, catch_response=True
        ) as response:
            # 409: another simulated user created it first, which is fine.
            if response.status_code in (200, 409):
                response.success()
        self.client.post("/api/room/join", json={"room_id": ROOM})

    @task(4)
    def append(self):
        self.client.post("/api/message/append", json={"room_id": ROOM, "text": random_text()})

    @task(2)
    def list_messages(self):
        self.client.get(f"/api/message/list?room_id={ROOM}&from_offset=1&limit=50", name="/api/message/list")
