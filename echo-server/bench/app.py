"""The write-up's pod: FastAPI under Hypercorn, answering {"hostname": ...}.

Run: hypercorn --bind 127.0.0.1:8000 app:app   (DELAY=1 adds the write-up's 1 s sleep)
"""
import asyncio, os, socket
from fastapi import FastAPI

app = FastAPI()
HOSTNAME = os.environ.get("POD_NAME") or socket.gethostname()
DELAY = float(os.environ.get("DELAY", "0"))

@app.get("/")
async def root():
    if DELAY:
        await asyncio.sleep(DELAY)
    return {"hostname": HOSTNAME}
