"""The seed's variant 2 workload (object-based-system's Locust file), against dchat.

Written to behave as the seed's file does: simulated users are named `user<N>` by spawn
count (so the names repeat from one run to the next), register and log in once through
the HTML forms with the password "pass", then post a message every 1-3 s with the form
fields the seed's file sends (`room_id=room1`, `username`, `text`). Redirects are followed
and any answer but a 2xx counts as a failure.

dchat keeps the seed's rules for these routes: registering a taken username with that
account's password signs in, and `POST /send` goes to `general` unless `room_id` names a
room of the sender's. Start the server with a minimum password length the workload meets:

    DCHAT_PASSWORD_MIN_CHARS=4 DCHAT_RATE_LIMIT=off cargo run --release -- serve

and run, as many times as you like against the same data:

    locust -f load/locustfile_forms.py --host http://127.0.0.1:8080 --headless -u 50 -r 5 -t 1m
"""

import itertools
import random
import string

from locust import HttpUser, between, task

spawned = itertools.count(1)


def random_text():
    return "".join(random.choices(string.ascii_letters + " ", k=random.randint(5, 30)))


class FormUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        self.username = f"user{next(spawned)}"
        credentials = {"username": self.username, "password": "pass"}
        self.client.post("/register", data=credentials, name="/register")
        self.client.post("/login", data=credentials, name="/login")

    @task
    def send(self):
        form = {"room_id": "room1", "username": self.username, "text": random_text()}
        self.client.post("/send", data=form, name="/send")
