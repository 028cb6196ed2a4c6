"""A tiny Open Inference Protocol model for MLServer: it doubles its first input.

Used by examples/v2-mlserver.yaml and the MLServer end-to-end tests."""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class Double(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(name="doubled", payload=x * 2)],
        )
