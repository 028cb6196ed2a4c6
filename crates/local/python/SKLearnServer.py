"""SKLEARN_SERVER for the seldon protocol, as `sluice up` runs it under Seldon's Python
wrapper (`seldon-core-microservice SKLearnServer --service-type MODEL`).

Written for sluice from the behaviour of Seldon's prepackaged server
(spec seldon-prepackaged.md section 5.1): parameters `model_uri` and `method`
(`predict_proba` by default, `decision_function`, anything else `predict`); the model is
`<model_uri>/model.joblib`; a failing call answers nothing (the wrapper's 400
MICROSERVICE_BAD_DATA); `<model_uri>/metadata.yaml` overlays the metadata.
"""

import logging
import os

import joblib
from sluice_metadata import read_metadata

log = logging.getLogger(__name__)


class SKLearnServer:
    def __init__(self, model_uri=None, method="predict_proba"):
        self.model_uri = model_uri
        self.method = method
        self.model = None
        self.ready = False
        self.load()

    def load(self):
        if self.ready:
            return
        self.model = joblib.load(os.path.join(self.model_uri, "model.joblib"))
        self.ready = True

    def predict(self, X, feature_names=None, meta=None):
        try:
            if self.method == "predict_proba":
                return self.model.predict_proba(X)
            if self.method == "decision_function":
                return self.model.decision_function(X)
            return self.model.predict(X)
        except Exception:  # the prepackaged server answers nothing, as Seldon's does
            log.exception("prediction failed")
            return None

    def init_metadata(self):
        return read_metadata(self.model_uri)

