# A FastAPI app as the lab's pod in the foreign-server test (served by
# Debian's Hypercorn with the trio worker, as the write-up's server).
import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"hostname": os.environ.get("POD_NAME", "")}


@app.get("/readyz")
async def readyz():
    return {"ok": True}
