"""The cold-start endpoint as an MLflow pyfunc model, logged from code (``mlflow.models.set_model``): MLflow stores
this file and the export folder, no pickled Python object (see ``graphlearn.tracking.log_endpoint``).

``predict(features, params={"k": 10})`` takes the raw features of brand-new nodes (rows as in the user's files: a
NumPy array of any real dtype, a list of rows or a DataFrame; the model applies its own training normalisation) and
returns one row per node: ``class_id``, ``class_name``, ``neighbor_ids`` (original ids of the ``k`` nearest exported
nodes), ``scores`` (their cosine similarities) and ``embedding``. A bad request raises ``MlflowException`` with
``INVALID_PARAMETER_VALUE``: the scoring server answers HTTP 400 with the message.
"""

from __future__ import annotations

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

DEFAULT_K = 10


class ColdStartModel(PythonModel):
    def load_context(self, context):
        import os  # noqa: PLC0415

        import torch  # noqa: PLC0415

        from graphlearn.export.endpoint import ColdStartEndpoint  # noqa: PLC0415
        from graphlearn.export.index import set_threads  # noqa: PLC0415

        # one thread unless told otherwise, as every graphlearn job (several servers on a small machine)
        threads = int(os.environ.get("GRAPHLEARN_THREADS") or 1)
        torch.set_num_threads(threads)
        set_threads(threads)

        self.endpoint = ColdStartEndpoint.load(context.artifacts["export"])

    def predict(self, context, model_input, params=None):
        import pandas as pd  # noqa: PLC0415

        params = params or {}
        try:
            answer = self.endpoint.query(model_input, k=params.get("k", DEFAULT_K))
        except ValueError as e:
            raise MlflowException(str(e), error_code=INVALID_PARAMETER_VALUE) from None
        return pd.DataFrame(answer.records())


mlflow.models.set_model(ColdStartModel())
