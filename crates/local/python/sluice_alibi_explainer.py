"""An explainer for the seldon and tensorflow protocols, as `sluice up` runs it in place of
Seldon's `seldonio/alibiexplainer` image (`python -m alibiexplainer`), which is not on PyPI.

Written for sluice from the behaviour the spec describes (seldon-prepackaged.md section 4.5),
over alibi from PyPI: the same arguments (`--model_name`, `--predictor_host`, `--protocol`,
`--http_port`, `--storage_uri`, the explainer type, then its options), the same routes
(`POST /api/v1.0/explain`, `/api/v0.1/explain`, `/v1/models/<name>:explain`) and the same
answer (alibi's `Explanation.to_json()`).

The explainer is the one saved with alibi's `explainer.save(dir)` in `--storage_uri`; it
calls the predictor as Seldon's does: `POST /api/v0.1/predictions` with `Seldon-Skip-Logging:
true` (seldon protocol) or `POST /v1/models/<name>:predict` (tensorflow). Options the saved
explainer's `explain` does not take are reported at start, not dropped silently.
"""

import argparse
import inspect
import json
import os
import re
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

TYPES = ["AnchorTabular", "AnchorImages", "AnchorText", "KernelShap", "IntegratedGradients", "TreeShap", "ALE"]
# Anchors explain one instance (the first); the others the whole batch.
SINGLE = {"AnchorTabular", "AnchorImages", "AnchorText"}
# Seldon's `AnchorImages` is alibi's `AnchorImage`.
CLASSES = {"AnchorImages": "AnchorImage"}
TF_ROUTE = re.compile(r"^/v1/models/[a-zA-Z0-9_-]*:explain$")


def fail(message):
    print(f"sluice_alibi_explainer: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse(argv):
    parser = argparse.ArgumentParser(prog="sluice_alibi_explainer")
    parser.add_argument("--model_name", default="explainer")
    parser.add_argument("--predictor_host", required=True)
    parser.add_argument(
        "--protocol", default="seldon.grpc", choices=["tensorflow.http", "tensorflow.grpc", "seldon.http", "seldon.grpc"]
    )
    parser.add_argument("--http_port", type=int, default=8080)
    parser.add_argument("--grpc_port", type=int)
    parser.add_argument("--storage_uri", default=os.environ.get("STORAGE_URI"))
    parser.add_argument("--tf_data_type")
    parser.add_argument("type", choices=TYPES)
    args, rest = parser.parse_known_args(argv)
    options = {}
    for word in rest:
        key, sep, value = word.lstrip("-").partition("=")
        if not word.startswith("--") or not sep:
            fail(f"option {word!r}: explainer options are --NAME=VALUE")
        options[key] = typed(value)
    return args, options


def typed(value):
    """An option's value as Seldon's parser types them: numbers, booleans, else text."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def predictor(args):
    """The model as the explainer calls it, through the predictor's engine."""
    # The .grpc protocols too: locally the engine serves REST and gRPC on one port, with the same answers.
    if args.protocol.startswith("tensorflow."):
        url = f"http://{args.predictor_host}/v1/models/{args.model_name}:predict"
        # --tf_data_type: the element type the model takes (Seldon sets float32 for AnchorImages).
        cast = (lambda x: x.astype(args.tf_data_type)) if args.tf_data_type else (lambda x: x)
        wrap, unwrap = (lambda x: {"instances": cast(x).tolist()}), (lambda r: r["predictions"])
    else:
        url = f"http://{args.predictor_host}/api/v0.1/predictions"
        wrap, unwrap = (lambda x: {"data": {"ndarray": x.tolist()}}), seldon_data

    def call(x):
        body = json.dumps(wrap(np.asarray(x))).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json", "Seldon-Skip-Logging": "true"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return np.array(unwrap(json.load(response)))
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"Failed to get response from model return_code:{e.code}") from e

    return call


def seldon_data(message):
    data = message.get("data", {})
    if "ndarray" in data:
        return data["ndarray"]
    if "tensor" in data:
        return np.reshape(data["tensor"]["values"], data["tensor"]["shape"])
    raise ValueError(f"the model's answer has no ndarray or tensor data: {json.dumps(message)[:200]}")


def load(args, call):
    if not args.storage_uri:
        fail(
            f"{args.type} needs a saved explainer: set the explainer's modelUri to a folder written by alibi's "
            "explainer.save()"
        )
    from alibi.saving import load_explainer

    if not os.path.exists(os.path.join(args.storage_uri, "meta.dill")):
        fail(f"{args.storage_uri} holds no explainer saved by alibi (meta.dill, explainer.dill)")
    return load_explainer(args.storage_uri, predictor=call)


def instances(body, path):
    """The instances of a request, as Seldon's explainer reads them."""
    if TF_ROUTE.match(path):
        return np.array(body["instances"])
    data = body["data"]
    if "ndarray" in data:
        return np.array(data["ndarray"])
    if "tensor" in data:
        return np.reshape(np.array(data["tensor"]["values"]), data["tensor"]["shape"])
    raise ValueError("data has no ndarray or tensor")


def serve(args, explainer, options):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            if path not in ("/api/v1.0/explain", "/api/v0.1/explain") and not TF_ROUTE.match(path):
                return self.answer(404, {"status": {"code": 404, "info": f"no route {path}", "status": "FAILURE"}})
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                x = instances(json.loads(raw), path)
            except (ValueError, KeyError, TypeError) as e:
                return self.answer(400, {"status": {"code": 400, "info": f"Unrecognized request format: {e}", "status": "FAILURE"}})
            try:
                explanation = explainer.explain(x[0] if args.type in SINGLE else x, **options)
            except Exception as e:  # the model's or alibi's failure, reported to the caller
                return self.answer(500, {"status": {"code": 500, "info": str(e), "status": "FAILURE"}})
            self.answer(200, json.loads(explanation.to_json()))

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.http_port), Handler)
    print(f"sluice_alibi_explainer: {args.type} on 127.0.0.1:{args.http_port}", flush=True)
    server.serve_forever()


def main():
    args, options = parse(sys.argv[1:])
    explainer = load(args, predictor(args))
    saved = type(explainer).__name__
    # Seldon's type names, where alibi's class is named otherwise.
    if saved != CLASSES.get(args.type, args.type):
        fail(f"{args.storage_uri} holds a saved {saved}, but the explainer's type is {args.type}: make them agree")
    accepted = inspect.signature(explainer.explain).parameters
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(k for k in options if k not in accepted and not takes_any)
    if unknown:
        print(
            f"sluice_alibi_explainer: warning: {args.type}.explain takes no option {', '.join(unknown)}; not passed",
            file=sys.stderr,
            flush=True,
        )
        options = {k: v for k, v in options.items() if k not in unknown}
    serve(args, explainer, options)


if __name__ == "__main__":
    main()
