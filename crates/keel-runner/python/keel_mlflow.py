"""Keel's adapter for MLflow models: loads an MLflow model directory and scores batches.

Keel writes this file into the job's working directory beside keel_worker.py,
which holds the MLflow directory's files (MLmodel, the pickled model, ...),
and runs it as the model's module: `init()` once per worker, then the batch
function `score(df)` per input batch. Its configuration is the JSON in the
environment variable KEEL_MLFLOW, made by keel-modeldef from MLmodel
(see docs/mlflow-models.md).

The sklearn flavor is loaded without MLflow: with pickle, cloudpickle or
skops, as MLmodel's serialization_format says. Every other flavor is loaded
with mlflow.pyfunc.load_model. Unpickling runs arbitrary code; it happens here,
in the isolated worker process where the model's own code runs anyway, never
in Keel.
"""

import json
import os
import sys

CONFIG_ENV = "KEEL_MLFLOW"

# numpy/pandas dtypes for MLflow's primitive column types; string, binary and
# datetime are handled apart.
_NUMERIC = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}

_model = None
_config = None
_predict_proba = False
_features = None


class MlflowModelError(Exception):
    """A problem with the MLflow model or its input, said so a person can fix it."""


def _load_config():
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise MlflowModelError(
            f"the environment variable {CONFIG_ENV} is not set; keel_mlflow.py is Keel's "
            "adapter for MLflow models and runs only in a Keel worker, which sets it"
        )
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise MlflowModelError(f"{CONFIG_ENV} does not hold valid JSON ({exc})") from None
    if config.get("flavor") not in ("sklearn", "python_function"):
        raise MlflowModelError(
            f"{CONFIG_ENV} names the flavor {config.get('flavor')!r}; the adapter serves "
            "'sklearn' and 'python_function'"
        )
    return config


def _missing_package(exc, what):
    """An error for an ImportError while loading, naming the package to add."""
    package = getattr(exc, "name", None) or str(exc)
    return MlflowModelError(
        f"loading {what} needs the Python package '{package}', which the model's platform "
        f"does not have: add it to the MLflow model's requirements.txt (or python_env.yaml) "
        f"and register it again ({exc})"
    )


def _load_sklearn(config):
    path = config.get("model_file")
    fmt = config.get("serialization_format") or "pickle"
    if not path or not os.path.isfile(path):
        raise MlflowModelError(
            f"the sklearn model file {path!r} is not in the working directory; the MLflow "
            "model directory must hold the file MLmodel's flavors.sklearn.pickled_model names"
        )
    code = config.get("code")
    if code:
        # MLflow puts the code directory on sys.path before loading, so that
        # pickled references to the model's own modules resolve.
        sys.path.insert(0, os.path.abspath(code))
    try:
        if fmt == "skops":
            import skops.io

            # Every type the file declares is trusted: the worker is where
            # untrusted model code runs anyway, isolated from Keel.
            trusted = skops.io.get_untrusted_types(file=path)
            return skops.io.load(path, trusted=trusted)
        if fmt == "cloudpickle":
            import cloudpickle

            with open(path, "rb") as f:
                return cloudpickle.load(f)
        if fmt == "pickle":
            import pickle

            with open(path, "rb") as f:
                return pickle.load(f)
    except ImportError as exc:
        raise _missing_package(exc, f"{path} ({fmt} format)") from exc
    except Exception as exc:
        raise MlflowModelError(
            f"{path} cannot be loaded as a {fmt} file ({type(exc).__name__}: {exc}); it may be "
            f"damaged, or saved by another scikit-learn version than the platform's. Save the "
            f"model again with mlflow.sklearn.save_model"
        ) from exc
    raise MlflowModelError(
        f"the serialization format {fmt!r} is not one the adapter loads (pickle, cloudpickle, skops)"
    )


def _load_pyfunc():
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise _missing_package(exc, "an MLflow python_function model") from exc
    try:
        return mlflow.pyfunc.load_model(".")
    except ImportError as exc:
        raise _missing_package(exc, "the MLflow model") from exc


def init():
    """Loads the model once per worker."""
    global _model, _config, _predict_proba, _features
    _config = _load_config()
    if _config["flavor"] == "sklearn":
        _model = _load_sklearn(_config)
        _predict_proba = hasattr(_model, "predict_proba")
    else:
        _model = _load_pyfunc()
        _predict_proba = False
    inputs = _config.get("inputs")
    if inputs:
        _features = [c["name"] for c in inputs]
    else:
        # Without a column signature, an estimator fitted on a DataFrame knows its columns.
        names = getattr(_model, "feature_names_in_", None)
        _features = [str(n) for n in names] if names is not None else None


def _cast(column, name, mlflow_type, pd):
    """Converts one input column to the signature's type, as MLflow's schema enforcement does."""
    if mlflow_type in _NUMERIC:
        target = _NUMERIC[mlflow_type]
        if str(column.dtype) == target:
            return column
        if target.startswith("int") and column.isna().any():
            # An integer column with missing values stays float, as pandas keeps it.
            return column
        try:
            return column.astype(target)
        except (TypeError, ValueError) as exc:
            raise MlflowModelError(
                f"the input column '{name}' cannot be converted to {mlflow_type}, the type the "
                f"MLflow signature gives it ({exc}); fix the input data"
            ) from None
    if mlflow_type == "datetime" and not pd.api.types.is_datetime64_any_dtype(column):
        try:
            return pd.to_datetime(column)
        except (TypeError, ValueError) as exc:
            raise MlflowModelError(
                f"the input column '{name}' cannot be read as datetimes, the type the MLflow "
                f"signature gives it ({exc}); write its values as ISO 8601 timestamps"
            ) from None
    return column


def _model_input(df, pd):
    """The feature columns in the signature's order, cast to its types."""
    inputs = _config.get("inputs")
    if not inputs:
        if _features is None:
            return df
        missing = [n for n in _features if n not in df.columns]
        if missing:
            raise MlflowModelError(
                f"the input has no column {', '.join(repr(m) for m in missing)}, which the "
                f"model was fitted with; add it to the input data (the model's columns are "
                f"{', '.join(_features)})"
            )
        return df[_features]
    columns = {}
    for spec in inputs:
        name = spec["name"]
        if name not in df.columns:
            if spec.get("required", True):
                raise MlflowModelError(
                    f"the input has no column '{name}', which the MLflow signature requires; "
                    f"add it to the input data (the signature's columns are {', '.join(_features)})"
                )
            columns[name] = pd.Series([None] * len(df), index=df.index, dtype="object")
            continue
        columns[name] = _cast(df[name], name, spec.get("type"), pd)
    return pd.DataFrame(columns, index=df.index)


def _prediction_frame(pred, rows, pd, np):
    """The predictions as a DataFrame, named by the signature's outputs or `prediction`."""
    names = _config.get("outputs")
    if isinstance(pred, dict):
        pred = pd.DataFrame(pred)
    if isinstance(pred, pd.DataFrame):
        out = pred.reset_index(drop=True)
        out.columns = [str(c) for c in out.columns]
    elif isinstance(pred, pd.Series):
        name = names[0] if names and len(names) == 1 else "prediction"
        out = pd.DataFrame({name: pred.reset_index(drop=True)})
    else:
        values = np.asarray(pred)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim == 1:
            name = names[0] if names and len(names) == 1 else "prediction"
            out = pd.DataFrame({name: values})
        elif values.ndim == 2:
            if names and len(names) == values.shape[1]:
                cols = names
            else:
                cols = [f"prediction_{i}" for i in range(values.shape[1])]
            out = pd.DataFrame(values, columns=cols)
        else:
            raise MlflowModelError(
                f"the model's predict returned an array of shape {values.shape}; Keel stores "
                "one row per input record, so it needs one or two dimensions"
            )
    if len(out) != rows:
        raise MlflowModelError(
            f"the model's predict returned {len(out)} rows for a batch of {rows} records; "
            "it must return one prediction per record"
        )
    return out


def _probabilities(X, out, pd):
    """Adds `probability` (binary) or `probability_<class>` (multiclass) columns."""
    proba = _model.predict_proba(X)
    classes = getattr(_model, "classes_", None)
    if classes is None:
        classes = list(range(proba.shape[1]))
    if proba.shape[1] == 2:
        # The positive class is classes_[1], as scikit-learn's binary metrics take it.
        if "probability" not in out.columns:
            out["probability"] = proba[:, 1]
    else:
        for i, c in enumerate(classes):
            name = f"probability_{c}"
            if name not in out.columns:
                out[name] = proba[:, i]
    return out


def score(df):
    """Scores one batch: predictions (and probabilities), after the input's other columns."""
    import numpy as np
    import pandas as pd

    if _model is None:
        raise MlflowModelError("score was called before init; Keel calls init first")
    X = _model_input(df, pd)
    pred = _model.predict(X)
    out = _prediction_frame(pred, len(df), pd, np)
    if _predict_proba:
        out = _probabilities(X, out, pd)
    # Input columns that are not features (an identifier, say) come first, so
    # each output row can be told apart; a column the model outputs wins.
    features = set(X.columns) if _features is not None else set(df.columns)
    keep = [c for c in df.columns if c not in features and str(c) not in out.columns]
    if keep:
        out = pd.concat([df[keep].reset_index(drop=True), out], axis=1)
    return out
