"""Export to ONNX: skopt_nn's estimators as skl2onnx converters.

:func:`to_onnx` converts a fitted :class:`~skopt_nn.MLPClassifier` or
:class:`~skopt_nn.MLPRegressor`, or a scikit-learn pipeline that contains one,
into an ONNX graph that any ONNX runtime executes without Python, NumPy or
skopt_nn. It needs the ``onnx`` extra (``pip install skopt_nn[onnx]``:
skl2onnx, which brings the ``onnx`` package).

The graph is the one of ``predict``: one ``MatMul`` and ``Add`` per layer, with
batch normalization folded into the layer before it (``W' = W c``, ``b' = beta
+ (b - E) c``, ``c = gamma / sqrt(V + eps)``, the inference statistics
``bn_mean_`` and ``bn_var_``), the hidden activation, and the output's softmax,
logistic or (``loss="poisson"``) exponential function. Its outputs:

- a classifier: ``label`` (``predict``: the values of ``classes_``, as int64,
  double, bool or string labels; for multilabel targets a dense 0/1 indicator
  matrix of int64, also where ``predict`` returns a CSR matrix, after a fit on
  a sparse ``y``) and ``probabilities`` (``predict_proba``, as a tensor of shape
  ``(n_samples, n_classes)``, kept as it keeps them: at least the smallest
  normal number, logistic ones below 1);
- a regressor: ``variable`` (``predict``), of shape ``(n_samples,
  n_outputs)`` even with one output, as every skl2onnx regressor.

The graph computes in the type of its input: a ``double`` input runs in float64
and reproduces ``predict_proba`` to rounding; a ``float`` input runs in float32,
the weights rounded to float32. An ``int64`` input is cast to float and runs in
float32 whatever the model's precision, with float outputs (skl2onnx's
convention for integer inputs); to compute in float64, give it ``double``
rows.
"""

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_is_fitted

from ._mlp import MLPClassifier, MLPRegressor

try:
    from skl2onnx import to_onnx as _skl2onnx_to_onnx
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (BooleanTensorType, DoubleTensorType,
                                            FloatTensorType, Int64TensorType,
                                            StringTensorType, guess_tensor_type)
    from skl2onnx.common.utils import (check_input_and_output_numbers,
                                       check_input_and_output_types)
    from skl2onnx.proto import onnx_proto
except ImportError as error:
    raise ImportError(
        "skopt_nn.onnx needs skl2onnx: pip install 'skopt_nn[onnx]'."
    ) from error

__all__ = ["register_converters", "to_onnx"]

_ACTIVATIONS = {"identity": "Identity", "logistic": "Sigmoid", "tanh": "Tanh",
                "relu": "Relu"}
_CLASSIFIER = "SkoptNNMLPClassifier"
_REGRESSOR = "SkoptNNMLPRegressor"


def to_onnx(model, X=None, *, target_opset=None, **kwargs):
    """Convert a fitted estimator, or a pipeline containing one, to ONNX.

    skopt_nn's converters are registered with skl2onnx, then
    :func:`skl2onnx.to_onnx` converts ``model``, so every step of a
    pipeline that skl2onnx knows (scalers, encoders, ...) converts too.

    Parameters
    ----------
    model : estimator
        A fitted :class:`~skopt_nn.MLPClassifier`, :class:`~skopt_nn.MLPRegressor`
        or scikit-learn pipeline.
    X : ndarray or sparse matrix, default=None
        A few input rows: their dtype fixes the graph's input type (float64:
        ``double``, float32: ``float``) and their width its number of columns.
        The graph takes dense rows, also for a model fitted on sparse ones.
        Or pass skl2onnx's ``initial_types`` instead.
    target_opset : int or None, default=None
        The ONNX opset; None means skl2onnx's latest.
    **kwargs
        Passed on to :func:`skl2onnx.to_onnx` (``initial_types``, ``options``,
        ``final_types``, ...).

    Returns
    -------
    onnx.ModelProto
        Serialize it with ``SerializeToString()``.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> model = MLPClassifier((10,), solver="lbfgs", max_iter=1000, random_state=0)
    >>> model = model.fit(X, y)
    >>> onx = to_onnx(model, X[:1])
    >>> session = onnxruntime.InferenceSession(onx.SerializeToString())
    >>> label, probabilities = session.run(None, {"X": X})
    >>> bool(np.array_equal(label, model.predict(X)))
    True
    >>> bool(np.allclose(probabilities, model.predict_proba(X), rtol=1e-12))
    True
    """
    register_converters()
    if sparse.issparse(X):  # (the graph takes dense rows; skl2onnx guesses the
        # input type from an ndarray only; COO and DIA take no row index)
        X = sparse.csr_matrix(X)[:1].toarray()
    return _skl2onnx_to_onnx(model, X, target_opset=target_opset, **kwargs)


def register_converters():
    """Register skopt_nn's estimators with skl2onnx (idempotent).

    Called by :func:`to_onnx`; call it yourself before converting with
    skl2onnx's own functions (``convert_sklearn``, ``to_onnx``).

    Examples
    --------
    >>> from skl2onnx import convert_sklearn
    >>> from skl2onnx.common.data_types import FloatTensorType
    >>> from sklearn.datasets import load_diabetes
    >>> from skopt_nn import MLPRegressor
    >>> from skopt_nn.onnx import register_converters
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = MLPRegressor((), solver="lbfgs").fit(X, y)
    >>> register_converters()
    >>> onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, 10]))])
    >>> [node.op_type for node in onx.graph.node]
    ['MatMul', 'Add', 'Identity']
    """
    # (zipmap=False, which skl2onnx users pass for scikit-learn's classifiers,
    # asks for what this converter does anyway: accepted)
    update_registered_converter(MLPClassifier, _CLASSIFIER, _classifier_shapes,
                                _convert_classifier, parser=_parse_classifier,
                                options={"zipmap": [False]})
    update_registered_converter(MLPRegressor, _REGRESSOR, _regressor_shapes,
                                _convert_regressor)


# ------------------------------------------------------------------ classifier
def _label_type(model):
    """skl2onnx's tensor type of ``predict``'s labels, and ``classes_`` as the
    graph stores them."""
    classes = np.asarray(model.classes_)
    if model._label_kind == "multilabel":
        return Int64TensorType, classes.astype(np.int64)
    if classes.dtype.kind == "b":
        return BooleanTensorType, classes
    if classes.dtype.kind in "iu":
        if classes.max() > np.iinfo(np.int64).max:
            raise ValueError("ONNX export stores integer class labels as int64; "
                             f"the label {classes.max()} does not fit.")
        return Int64TensorType, classes.astype(np.int64)
    if classes.dtype.kind == "f":
        return DoubleTensorType, classes.astype(np.float64)
    if classes.dtype.kind in "US" or all(isinstance(c, str) for c in classes):
        return StringTensorType, classes.astype(str)
    raise ValueError("ONNX export needs class labels that are integers, floats, "
                     f"booleans or strings, got {classes.dtype} labels "
                     f"{classes[:5]!r}.")


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    """Outputs ``label`` and ``probabilities`` (a tensor: no ZipMap)."""
    check_is_fitted(model)
    operator = scope.declare_local_operator(_CLASSIFIER, model)
    operator.inputs = inputs
    label_type, _ = _label_type(model)
    label = scope.declare_local_variable("label", label_type())
    probabilities = scope.declare_local_variable(
        "probabilities", guess_tensor_type(inputs[0].type))
    operator.outputs.extend([label, probabilities])
    return [label, probabilities]


def _check_input(operator, n_outputs):
    """One numeric input of the fitted width (skl2onnx's errors for the count)."""
    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=n_outputs)
    check_input_and_output_types(operator, good_input_types=[
        FloatTensorType, DoubleTensorType, Int64TensorType])
    model = operator.raw_operator
    shape = operator.inputs[0].type.shape
    if len(shape) != 2 or shape[1] not in (None, model.n_features_in_):
        raise ValueError(
            f"The ONNX input has shape {shape}, but {type(model).__name__} is "
            f"expecting {model.n_features_in_} features as input: one input of "
            f"shape [None, {model.n_features_in_}] (a DataFrame gives one input "
            "per column; convert its values, or put a ColumnTransformer first).")


def _classifier_shapes(operator):
    _check_input(operator, 2)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    label_type, _ = _label_type(model)
    multilabel = model._label_kind == "multilabel"
    operator.outputs[0].type = label_type([n, len(model.classes_)] if multilabel
                                          else [n])
    operator.outputs[1].type = guess_tensor_type(operator.inputs[0].type)
    operator.outputs[1].type.shape = [n, len(model.classes_)]


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    graph = _Graph(scope, container, operator.inputs[0])
    logits = graph.forward(model)
    label, probabilities = (v.full_name for v in operator.outputs)
    # probabilities kept as predict_proba keeps them: at least the smallest
    # normal number, logistic ones below 1, so that their logarithms are finite
    info = np.finfo(graph.dtype)
    if model.out_activation_ == "softmax":
        graph.node("Max", graph.node("Softmax", logits, axis=1),
                   graph.constant(info.tiny), output=probabilities)
        index = graph.node("ArgMax", probabilities, axis=1, keepdims=0)
    else:  # logistic: binary (one output unit) or multilabel
        # 1 / (1 + exp(-z)), not onnxruntime's Sigmoid, which in double
        # returns 0 from z = -37 down (expit: 8.5e-17 there)
        p = graph.node("Reciprocal", graph.node(
            "Add", graph.constant(1.0), graph.node("Exp", graph.node("Neg", logits))))
        # predict's rule, P > 0.5 (a probability of exactly 0.5 is negative)
        positive = graph.node("Cast", graph.node("Greater", p, graph.constant(0.5)),
                              to=onnx_proto.TensorProto.INT64)
        p = graph.node("Min", graph.node("Max", p, graph.constant(info.tiny)),
                       graph.constant(1 - info.epsneg))
        if model._label_kind == "multilabel":
            graph.node("Identity", p, output=probabilities)
            graph.node("Identity", positive, output=label)
            return
        graph.node("Concat", graph.node("Sub", graph.constant(1.0), p), p, axis=1,
                   output=probabilities)
        index = graph.node("Reshape", positive, graph.initializer(
            np.array([-1], dtype=np.int64), onnx_proto.TensorProto.INT64))
    _, classes = _label_type(model)
    graph.node("Gather", graph.classes(classes), index, axis=0, output=label)


# ------------------------------------------------------------------- regressor
def _regressor_shapes(operator):
    model = operator.raw_operator
    check_is_fitted(model)
    _check_input(operator, 1)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = guess_tensor_type(operator.inputs[0].type)
    operator.outputs[0].type.shape = [n, model.n_outputs_]


def _convert_regressor(scope, operator, container):
    graph = _Graph(scope, container, operator.inputs[0])
    logits = graph.forward(operator.raw_operator)
    output = "Exp" if operator.raw_operator.out_activation_ == "exp" else "Identity"
    graph.node(output, logits, output=operator.outputs[0].full_name)


# ------------------------------------------------------------------- the graph
class _Graph:
    """Nodes and initializers in the input's precision, uniquely named."""

    def __init__(self, scope, container, input_variable):
        self.scope, self.container = scope, container
        double = isinstance(input_variable.type, DoubleTensorType)
        self.proto = onnx_proto.TensorProto.DOUBLE if double else \
            onnx_proto.TensorProto.FLOAT
        self.dtype = np.float64 if double else np.float32
        self.input = input_variable.full_name
        if not isinstance(input_variable.type, (DoubleTensorType, FloatTensorType)):
            self.input = self.node("Cast", self.input, to=self.proto)

    def node(self, op_type, *inputs, output=None, **attributes):
        """Add one node; return its output's name (a new one, or ``output``)."""
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(op_type, list(inputs), output,
                                name=self.scope.get_unique_operator_name(op_type),
                                **attributes)
        return output

    def initializer(self, values, proto):
        name = self.scope.get_unique_variable_name("init")
        values = np.asarray(values)
        self.container.add_initializer(name, proto, values.shape, values.ravel().tolist()
                                       if proto == onnx_proto.TensorProto.STRING
                                       else values.ravel())
        return name

    def constant(self, value):
        return self.initializer(np.array(value, dtype=self.dtype), self.proto)

    def classes(self, classes):
        proto = {"b": onnx_proto.TensorProto.BOOL, "i": onnx_proto.TensorProto.INT64,
                 "f": onnx_proto.TensorProto.DOUBLE}.get(classes.dtype.kind,
                                                         onnx_proto.TensorProto.STRING)
        if proto == onnx_proto.TensorProto.STRING:
            classes = np.array([c.encode("utf-8") for c in classes], dtype=object)
        return self.initializer(classes, proto)

    def forward(self, model):
        """The output layer's logits: ``predict``'s layers, BN folded in."""
        network = model._network
        coefs, intercepts = network.inference_layers(model._theta,
                                                     *model._inference_statistics())
        a = self.input
        for i, (w, b) in enumerate(zip(coefs, intercepts)):
            z = self.node(
                "Add",
                self.node("MatMul", a, self.initializer(w.astype(self.dtype), self.proto)),
                self.initializer(b.astype(self.dtype).reshape(1, -1), self.proto))
            if i == network.n_hidden:
                return z
            a = self.node(_ACTIVATIONS[network.activation], z)
