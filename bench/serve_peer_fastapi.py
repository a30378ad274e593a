"""serve_peer_fastapi.py -- the FastAPI peer of bench/serve.sh.

    BENCH_PEER_MODEL=MODEL.json python3 -m uvicorn serve_peer_fastapi:app \
        --app-dir bench --host 127.0.0.1 --port PORT --workers 2 --no-access-log

Serves the XGBoost model that `serve_peer_flask.py train` wrote (MODEL.json
and MODEL.json.cats.json; see that file for how it is trained and why it is
not cairn's own artifact) at POST /v1/models/churn:predict, with cairn's body
and reply shapes: {"instances": [{col: value, ...}, ...]} in, {"model",
"predictions": [{"score", "label"}]} out. Each uvicorn worker process loads
the model at import. A request is read as plain JSON (no pydantic model, in
the peer's favour) and scored by the Flask peer's Scorer (rows coded into
one array, Booster.inplace_predict with nthread=1), in an async handler: the
scoring blocks the worker's event loop, as a synchronous model call in an
async FastAPI handler does, and at well under a millisecond a row that is
cheaper than handing it to a thread.
"""
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from serve_peer_flask import Scorer

scorer = Scorer(os.environ["BENCH_PEER_MODEL"])
app = FastAPI()


@app.post("/v1/models/churn:predict")
async def predict(request: Request):
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        return JSONResponse({"error": "expected {\"instances\": [...]}"}, status_code=400)
    return {"model": "churn", "predictions": scorer.predict(body["instances"])}
