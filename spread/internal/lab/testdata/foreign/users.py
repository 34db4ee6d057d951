# The foreign client of the lab's tests: Locust's FastHttpUser, keep-alive
# connections as the write-up's users.
from locust import FastHttpUser, constant, task


class User(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def root(self):
        self.client.get("/")
