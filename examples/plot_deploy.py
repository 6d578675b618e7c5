"""
=====================================================
Deploying a model: a skops file and an ONNX graph
=====================================================

A pipeline (a scaler, then a network with batch normalization) trained on the
digits is saved as a skops file, which loads only the types one trusts, and
converted to an ONNX graph, which onnxruntime runs without Python or skopt_nn.
Both reproduce the fitted pipeline's predictions.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import skops.io as sio
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier
from skopt_nn.onnx import to_onnx

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
pipeline = make_pipeline(StandardScaler(), MLPClassifier(
    (64,), batch_norm=True, early_stopping=True, random_state=0))
pipeline.fit(X_train, y_train)
print(f"test accuracy: {pipeline.score(X_test, y_test):.4f}")

folder = Path(tempfile.mkdtemp())

# %%
# skops
# -----
# The file names the types it needs; besides scikit-learn's, only skopt_nn's
# own. Review them, then trust them to load.

sio.dump(pipeline, folder / "model.skops")
untrusted = sio.get_untrusted_types(file=folder / "model.skops")
print("types to review:", untrusted)
loaded = sio.load(folder / "model.skops", trusted=untrusted)
print("same probabilities, bit for bit:",
      np.array_equal(loaded.predict_proba(X_test), pipeline.predict_proba(X_test)))

# %%
# ONNX
# ----
# The scaler and the network become one graph; batch normalization is folded
# into the layer before it, so each layer is one ``MatMul`` and one ``Add``.
# float64 rows make a double-precision graph.

onx = to_onnx(pipeline, X_train[:1])
(folder / "model.onnx").write_bytes(onx.SerializeToString())
print("operators:", [node.op_type for node in onx.graph.node])

session = onnxruntime.InferenceSession(folder / "model.onnx",
                                       providers=["CPUExecutionProvider"])
label, probabilities = session.run(None, {"X": X_test})
print("same labels:", np.array_equal(label, pipeline.predict(X_test)))
print("largest probability difference: "
      f"{np.abs(probabilities - pipeline.predict_proba(X_test)).max():.1e}")

# %%
# Prediction time on the 450 test rows, one row at a time as a service would
# receive them (medians of the calls):


def median_us(predict, rows):
    times = []
    for row in rows:
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return 1e6 * np.median(times)


rows = [X_test[i:i + 1] for i in range(len(X_test))]
print(f"pipeline.predict_proba: {median_us(pipeline.predict_proba, rows):.0f} us per row")
print(f"onnxruntime:            "
      f"{median_us(lambda r: session.run(None, {'X': r}), rows):.0f} us per row")
