"""Saves small MLflow models with a real MLflow, for Keel's MLflow tests.

Usage: python make_mlflow_models.py OUT_DIR

It writes, under OUT_DIR, one MLflow model directory per case, the input data
each is scored on, and what the model itself predicts on that data:

  binary_skops/        Pipeline(StandardScaler, LogisticRegression) on 8 breast-cancer
                       features, with a signature, serialization_format skops
  binary_cloudpickle/  the same estimator, cloudpickle
  binary_pickle/       the same estimator, pickle
  regressor/           Ridge on 4 diabetes features (no predict_proba), skops, with a
                       signature whose output column is named
  multiclass_nosig/    LogisticRegression on iris with string classes, cloudpickle,
                       no signature (the estimator knows its feature names)
  pyfunc_custom/       a custom mlflow.pyfunc.PythonModel whose class lives in a code
                       path and whose weights are an artifact, with a signature
  data/<case>.json     the input: {"columns": [{"name", "type", "values"}, ...]}, an
                       `id` column first and the features in another order than the model's
  reference/<case>.json  {"columns": [...output column names...], "prediction": [...],
                       "probability": [...] or "probability_<class>": [...]}

Requirements are given to MLflow explicitly (pip_requirements): inferring
them starts a Python per model and takes seconds each.
"""

import json
import os
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")

import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402

SKLEARN_REQ = f"scikit-learn=={sklearn.__version__}"

PYFUNC_MODULE = '''"""A custom MLflow model: a linear score from weights kept as an artifact."""
import json

import mlflow.pyfunc
import numpy as np
import pandas as pd


class LinearScore(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["weights"]) as f:
            w = json.load(f)
        self.columns = w["columns"]
        self.coef = np.asarray(w["coef"])
        self.bias = w["bias"]

    def predict(self, context, model_input, params=None):
        values = model_input[self.columns].to_numpy(dtype=float) @ self.coef + self.bias
        return pd.Series(values, name="score")
'''


def snake(name):
    return name.replace(" ", "_")


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def write_case(out, case, X, ids, reference):
    """Writes the input (id first, features reversed) and the reference outputs."""
    columns = [{"name": "id", "type": "long", "values": [int(i) for i in ids]}]
    for name in reversed(list(X.columns)):
        columns.append({"name": name, "type": "double", "values": [float(v) for v in X[name]]})
    write_json(os.path.join(out, "data", f"{case}.json"), {"columns": columns})
    write_json(os.path.join(out, "reference", f"{case}.json"), reference)


def plain(values):
    return [v.item() if hasattr(v, "item") else v for v in values]


def main(out):
    os.makedirs(out, exist_ok=True)

    # Binary classification: 8 features, 40 scored rows.
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:, :8].rename(columns=snake)
    y = data.target
    train, test = X.iloc[:300], X.iloc[300:340]
    binary = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    binary.fit(train, y.iloc[:300])
    signature = infer_signature(train, binary.predict(train))
    reference = {
        "columns": ["id", "prediction", "probability"],
        "prediction": plain(binary.predict(test)),
        "probability": binary.predict_proba(test)[:, 1].tolist(),
    }
    for fmt in ["skops", "cloudpickle", "pickle"]:
        case = f"binary_{fmt}"
        reqs = [SKLEARN_REQ] + ({"skops": ["skops"], "cloudpickle": ["cloudpickle"]}.get(fmt, []))
        mlflow.sklearn.save_model(
            binary,
            os.path.join(out, case),
            serialization_format=fmt,
            signature=signature,
            pip_requirements=reqs,
        )
        write_case(out, case, test, range(1000, 1000 + len(test)), reference)

    # Regression without predict_proba; the output column is named by the signature.
    data = load_diabetes(as_frame=True)
    X = data.data[["age", "bmi", "bp", "s5"]]
    y = data.target
    train, test = X.iloc[:200], X.iloc[200:230]
    ridge = Ridge(alpha=0.5).fit(train, y.iloc[:200])
    signature = infer_signature(train, pd.Series(ridge.predict(train), name="progression"))
    mlflow.sklearn.save_model(
        ridge,
        os.path.join(out, "regressor"),
        signature=signature,
        pip_requirements=[SKLEARN_REQ, "skops"],
    )
    write_case(
        out,
        "regressor",
        test,
        range(2000, 2000 + len(test)),
        {"columns": ["id", "progression"], "progression": ridge.predict(test).tolist()},
    )

    # Multiclass with string labels and no signature.
    data = load_iris(as_frame=True)
    X = data.data.rename(columns=lambda c: snake(c.replace(" (cm)", "")))
    y = data.target.map(dict(enumerate(data.target_names)))
    order = np.random.RandomState(7).permutation(len(X))
    X, y = X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    train, test = X.iloc[:120], X.iloc[120:150]
    multi = LogisticRegression(max_iter=1000).fit(train, y.iloc[:120])
    mlflow.sklearn.save_model(
        multi,
        os.path.join(out, "multiclass_nosig"),
        serialization_format="cloudpickle",
        pip_requirements=[SKLEARN_REQ, "cloudpickle"],
    )
    proba = multi.predict_proba(test)
    reference = {
        "columns": ["id", "prediction"] + [f"probability_{c}" for c in multi.classes_],
        "prediction": plain(multi.predict(test)),
    }
    for i, c in enumerate(multi.classes_):
        reference[f"probability_{c}"] = proba[:, i].tolist()
    write_case(out, "multiclass_nosig", test, range(3000, 3000 + len(test)), reference)

    # A custom PythonModel whose class lives in a code path, with an artifact.
    work = os.path.join(out, "_pyfunc_src")
    os.makedirs(work, exist_ok=True)
    module_path = os.path.join(work, "linear_score.py")
    with open(module_path, "w") as f:
        f.write(textwrap.dedent(PYFUNC_MODULE))
    rng = np.random.RandomState(3)
    X = pd.DataFrame(rng.randn(20, 3), columns=["x1", "x2", "x3"])
    weights = {"columns": ["x1", "x2", "x3"], "coef": [0.5, -1.25, 2.0], "bias": 0.1}
    weights_path = os.path.join(work, "weights.json")
    write_json(weights_path, weights)
    sys.path.insert(0, work)
    import linear_score

    expected = X.to_numpy() @ np.asarray(weights["coef"]) + weights["bias"]
    mlflow.pyfunc.save_model(
        os.path.join(out, "pyfunc_custom"),
        python_model=linear_score.LinearScore(),
        artifacts={"weights": weights_path},
        code_paths=[module_path],
        signature=infer_signature(X, pd.Series(expected, name="score")),
        pip_requirements=["numpy", "pandas"],
    )
    write_case(
        out,
        "pyfunc_custom",
        X,
        range(4000, 4000 + len(X)),
        {"columns": ["id", "score"], "score": expected.tolist()},
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python make_mlflow_models.py OUT_DIR")
    main(sys.argv[1])
