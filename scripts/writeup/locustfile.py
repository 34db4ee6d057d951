# The write-up's Locust users, as published (DESIGN.md section 1), for
# `spread lab --client-cmd` (scripts/writeup.yaml): a FastHttpUser whose
# task GETs /, and the same user closing its connection pool before every
# request ("Connection: close" variant). Run with Debian's Locust:
#
#   /usr/bin/locust -f scripts/writeup/locustfile.py --headless \
#       -u 1000 -r 100 -t 5m -H http://TARGET Baseline
#
# Pick the user class by name: Baseline or Close.
from locust import task
from locust.contrib.fasthttp import FastHttpUser


class Baseline(FastHttpUser):
    """Keep-alive: one connection per user, reused for every request."""

    @task
    def get(self):
        self.client.get("/")


class Close(FastHttpUser):
    """A new TCP connection per request, as the write-up's close variant."""

    @task
    def get(self):
        # the write-up's own call: drop the pooled connection first
        self.client.client.clientpool.close()
        self.client.get("/")
