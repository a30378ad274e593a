"""serve_peer_fastapi.py -- the FastAPI peer of bench/serve.sh.

    BENCH_PEER_MODEL=MODEL.json python3 -m uvicorn serve_peer_fastapi:app \
        --app-dir bench --host 127.0.0.1 --port PORT --workers 2 --no-access-log

Serves the XGBoost model that `serve_peer_flask.py train` wrote (MODEL.json
and MODEL.json.cats.json; see that file for how it is trained and why it is
not cairn's own artifact) at POST /v1/models/churn:predict, with cairn's body
and reply shapes: {"instances": [{col: value, ...}, ...]} in, {"model",
"predictions": [{"score", "label"}]} out. Each uvicorn worker process loads
the model at import. A request is read as plain JSON (no pydantic model, in
the peer's favour), turned into a DataFrame with the training column order
and categories, and scored through xgboost.DMatrix + Booster.predict with
nthread=1 -- the same steps as the Flask peer, in an async handler (the
scoring blocks the worker's event loop, as a synchronous model call in an
async FastAPI handler does).
"""
import json
import os

import pandas as pd
import xgboost as xgb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

POSITIVE = "Yes"


class Scorer:
    def __init__(self, model_path):
        self.booster = xgb.Booster()
        self.booster.load_model(model_path)
        self.booster.set_param({"nthread": 1})
        with open(model_path + ".cats.json") as f:
            meta = json.load(f)
        self.features = meta["features"]
        self.categories = meta["categories"]

    def predict(self, instances):
        frame = pd.DataFrame.from_records(instances, columns=self.features)
        for c in self.features:
            if c in self.categories:
                frame[c] = pd.Categorical(frame[c], categories=self.categories[c])
            else:
                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        scores = self.booster.predict(xgb.DMatrix(frame, enable_categorical=True, nthread=1))
        return [{"score": float(s), "label": POSITIVE if s >= 0.5 else "No"} for s in scores]


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
