"""Training: a linear classifier over the TF-IDF features, and the temperature that calibrates it.

The classifier is a one-vs-rest linear SVM with squared hinge loss (liblinear through
scikit-learn's `LinearSVC`): on CLINC150 validation it is as accurate as logistic regression
and ten times faster to train (5 s for 15,000 examples). Its decision values become
probabilities by a softmax with a temperature fitted on out-of-fold decision values of a
stratified k-fold split of the training data, so a score of 0.7 means about 70 % right.

Only training needs scikit-learn (imported here, lazily): matching is numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CV_FOLDS = 2
SEED = 0


def fit_svm(X, y: np.ndarray, n_classes: int, C: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (features × classes, float32) and biases of a one-vs-rest linear SVM.

    `y` holds class numbers 0..n_classes-1; classes absent from `y` get weights 0 and a bias
    far below every other class.
    """
    from sklearn.svm import LinearSVC

    present = np.unique(y)
    W = np.zeros((X.shape[1], n_classes), dtype=np.float32)
    b = np.full(n_classes, -10.0, dtype=np.float32)
    if len(present) == 1:
        b[present[0]] = 0.0
        return W, b
    model = LinearSVC(C=C, loss="squared_hinge", dual=True, max_iter=2000, random_state=SEED)
    model.fit(X, y)
    coef = model.coef_.astype(np.float32)
    intercept = model.intercept_.astype(np.float32)
    if len(present) == 2:  # liblinear returns one separating hyperplane for two classes
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2], dtype=np.float32)
    W[:, present] = coef.T
    b[present] = intercept
    return W, b


def folds(y: np.ndarray, k: int = CV_FOLDS, seed: int = SEED) -> np.ndarray:
    """Fold number of each example: each class dealt round-robin over the folds after a shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        fold[members] = (np.arange(len(members)) + rng.integers(k)) % k
    return fold


def fit_with_calibration(
    X, y: np.ndarray, n_classes: int, C: float, k: int = CV_FOLDS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model on all examples, and out-of-fold decision values of every example (each from
    a model trained on the other folds), for fitting the temperature."""
    fold = folds(y, k)
    oof = np.zeros((len(y), n_classes), dtype=np.float32)
    for f in range(k):
        held = fold == f
        if held.any() and not held.all():
            W, b = fit_svm(X[~held], y[~held], n_classes, C)
            oof[held] = X[held] @ W + b
    weights, bias = fit_svm(X, y, n_classes, C)
    return weights, bias, oof


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimising the negative log-likelihood of the true classes."""

    def nll(t: float) -> float:
        p = softmax(scores, t)[np.arange(len(y)), y]
        return float(-np.log(np.maximum(p, 1e-12)).mean())

    grid = np.exp(np.linspace(np.log(0.01), np.log(10.0), 31))
    best = min(grid, key=nll)
    lo, hi = best / 1.26, best * 1.26
    for _ in range(20):  # golden-section refinement around the best grid point
        m1, m2 = lo + (hi - lo) * 0.382, lo + (hi - lo) * 0.618
        if nll(m1) < nll(m2):
            hi = m2
        else:
            lo = m1
    return float((lo + hi) / 2)


def class_numbers(labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    return classes, np.array([index[label] for label in labels], dtype=np.int64)
