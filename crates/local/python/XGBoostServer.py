"""XGBOOST_SERVER for the seldon protocol, as `sluice up` runs it under Seldon's Python
wrapper (`seldon-core-microservice XGBoostServer --service-type MODEL`).

Written for sluice from the behaviour of Seldon's prepackaged server
(spec seldon-prepackaged.md section 5.1): parameter `model_uri` only; the booster is
`<model_uri>/model.bst` (or `model.json`, `model.ubj`), loaded on first use;
`booster.predict(DMatrix(X))`; `<model_uri>/metadata.yaml` overlays the metadata.
"""

import os

from sluice_metadata import read_metadata

MODEL_FILES = ("model.bst", "model.json", "model.ubj")


class XGBoostServer:
    def __init__(self, model_uri=None):
        self.model_uri = model_uri
        self.booster = None
        self.ready = False

    def load(self):
        if self.ready:
            return
        import xgboost

        for name in MODEL_FILES:
            path = os.path.join(self.model_uri, name)
            if os.path.exists(path):
                self.booster = xgboost.Booster(model_file=path)
                self.ready = True
                return
        raise FileNotFoundError(f"none of {', '.join(MODEL_FILES)} in {self.model_uri}")

    def predict(self, X, feature_names=None, meta=None):
        import xgboost

        self.load()
        return self.booster.predict(xgboost.DMatrix(X))

    def init_metadata(self):
        return read_metadata(self.model_uri)
