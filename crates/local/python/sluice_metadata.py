"""The metadata overlay of Seldon's prepackaged servers: `<model_uri>/metadata.yaml`, when
there is one (spec seldon-prepackaged.md section 5.1). Written for sluice."""

import os


def read_metadata(model_uri):
    path = os.path.join(model_uri or "", "metadata.yaml")
    if not os.path.exists(path):
        return {}
    import yaml

    with open(path) as f:
        return yaml.safe_load(f) or {}
