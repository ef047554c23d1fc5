"""Training: linear classifiers over the TF-IDF features, and the temperature that calibrates them.

The main classifier is a one-vs-rest linear SVM with squared hinge loss (liblinear through
scikit-learn's `LinearSVC`): on CLINC150 validation it is as accurate as logistic regression
and ten times faster to train. Its decision values become probabilities by a softmax with a
temperature fitted on out-of-fold decision values of a stratified k-fold split of the training
data, so a score of 0.7 means about 70 % right.

Large bases (`ENSEMBLE_MIN_EXAMPLES` and more) also get a multinomial logistic regression,
trained here in numpy (mini-batch Adam, updating only the rows of the features in a batch).
The two models make different mistakes; the average of their temperature-scaled scores is
again a linear model (W ∝ W_svm / T_svm + W_lr / T_lr), so matching costs the same.
Small bases keep the SVM alone: there the regression is weaker (5-fold cross-validation on the
bundled base) and its fits would cost start-up time.

The k-fold fits and the fit on all examples run in threads (liblinear releases the GIL).
Only training needs scikit-learn (imported here, lazily): matching is numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CV_FOLDS = 2
SEED = 0
# From this many training examples on, the SVM is averaged with a logistic regression.
ENSEMBLE_MIN_EXAMPLES = 10_000
# Logistic regression by mini-batch Adam, chosen on CLINC150 validation (never its test set).
LR_EPOCHS = 6
LR_BATCH = 256
LR_RATE = 0.03
# Stopping tolerance of the k-fold SVM fits, which only serve to fit the temperature: 0.1
# instead of liblinear's 1e-4 halves their cost and gives the same temperature (bundled base).
CALIBRATION_TOL = 0.1


def fit_svm(X, y: np.ndarray, n_classes: int, C: float, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
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
    model = LinearSVC(C=C, loss="squared_hinge", dual=True, tol=tol, max_iter=2000, random_state=SEED)
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


def fit_softmax(X, y: np.ndarray, n_classes: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Weights (features × classes, float32) and biases of a multinomial logistic regression.

    Mini-batch Adam on the mean cross-entropy, no penalty, learning rate decaying linearly to 0
    over `LR_EPOCHS` epochs (early stopping is the regulariser); a batch updates only the weight
    rows of the features it contains (lazy Adam), which keeps an epoch cheap on sparse rows.
    """
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(seed)
    X = X.astype(np.float32)
    n, d = X.shape
    W = np.zeros((d, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    mW, vW = np.zeros_like(W), np.zeros_like(W)
    mb, vb = np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    total = LR_EPOCHS * -(-n // LR_BATCH)
    step = 0
    for _ in range(LR_EPOCHS):
        order = rng.permutation(n)
        for start in range(0, n, LR_BATCH):
            rows = order[start : start + LR_BATCH]
            m = len(rows)
            batch = X[rows]
            cols, inverse = np.unique(batch.indices, return_inverse=True)
            Xb = csr_matrix((batch.data, inverse.ravel(), batch.indptr), shape=(m, len(cols)))
            Wb = W[cols]
            z = Xb @ Wb + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(m), y[rows]] -= 1.0
            p /= m
            gW = Xb.T @ p
            gb = p.sum(axis=0)
            rate = LR_RATE * (1.0 - step / total)
            step += 1
            c1, c2 = 1.0 - beta1**step, 1.0 - beta2**step
            m_rows = mW[cols]
            m_rows *= beta1
            m_rows += (1.0 - beta1) * gW
            gW *= gW
            gW *= 1.0 - beta2
            v_rows = vW[cols]
            v_rows *= beta2
            v_rows += gW
            mW[cols] = m_rows
            vW[cols] = v_rows
            # W -= rate · m̂ / (√v̂ + eps), computed in place on the batch's rows
            np.sqrt(v_rows, out=v_rows)
            v_rows += eps * np.sqrt(c2)
            m_rows /= v_rows
            m_rows *= rate * np.sqrt(c2) / c1
            Wb -= m_rows
            W[cols] = Wb
            mb = beta1 * mb + (1.0 - beta1) * gb
            vb = beta2 * vb + (1.0 - beta2) * gb * gb
            b -= rate * (mb / c1) / (np.sqrt(vb / c2) + eps)
    return W, b


def _fit_oof(fit, X, y: np.ndarray, n_classes: int, fold: np.ndarray, pool, **fold_args) -> tuple:
    """`fit` on all examples (a future), and out-of-fold scores (each fold scored by a model
    fitted on the others, with `fold_args`)."""
    full = pool.submit(fit, X, y)
    jobs = {}
    for f in range(int(fold.max()) + 1):
        held = fold == f
        if held.any() and not held.all():
            jobs[f] = pool.submit(fit, X[~held], y[~held], **fold_args)
    oof = np.zeros((len(y), n_classes), dtype=np.float32)
    for f, job in jobs.items():
        W, b = job.result()
        held = fold == f
        oof[held] = X[held] @ W + b
    return full, oof


def fit_with_calibration(
    X, y: np.ndarray, n_classes: int, C: float, k: int = CV_FOLDS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model on all examples, and out-of-fold scores of every example (each from a model
    trained on the other folds), for fitting the temperature.

    With `ENSEMBLE_MIN_EXAMPLES` examples or more the model is the average of the SVM and the
    logistic regression, each divided by its own out-of-fold temperature.
    """
    from concurrent.futures import ThreadPoolExecutor

    fold = folds(y, k)
    ensemble = len(y) >= ENSEMBLE_MIN_EXAMPLES
    with ThreadPoolExecutor(max_workers=2) as pool:
        svm, svm_oof = _fit_oof(
            lambda A, t, tol=1e-4: fit_svm(A, t, n_classes, C, tol),
            X,
            y,
            n_classes,
            fold,
            pool,
            tol=CALIBRATION_TOL,
        )
        if not ensemble:
            W, b = svm.result()
            return W, b, svm_oof
        lr, lr_oof = _fit_oof(lambda A, t: fit_softmax(A, t, n_classes), X, y, n_classes, fold, pool)
        t_svm = fit_temperature(svm_oof, y)
        t_lr = fit_temperature(lr_oof, y)
        (Ws, bs), (Wl, bl) = svm.result(), lr.result()
    # Kept on the SVM's scale (× t_svm), so that the final temperature lies in the same range.
    mix = t_svm / t_lr
    weights = ((Ws + Wl * mix) / 2).astype(np.float32)
    bias = ((bs + bl * mix) / 2).astype(np.float32)
    oof = ((svm_oof + lr_oof * mix) / 2).astype(np.float32)
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
