"""Reference numbers for the explain stage's representation comparison tests.

Run from the repository root:
    /usr/bin/python3 tests/ConceptSuite.Tests/Explain/Fixtures/make_representations_fixture.py \
        > tests/ConceptSuite.Tests/Explain/Fixtures/representations.json

NumPy/SciPy/scikit-learn (Debian python3-numpy, python3-scipy, python3-sklearn) compute the
reference side: CKA from the formulas with NumPy, CCA via scipy.linalg.orth + SVD, the Hungarian
assignment with scipy.optimize.linear_sum_assignment and the Lasso with sklearn.linear_model.Lasso.
"""
import json
import numpy as np
import scipy.linalg
import scipy.optimize
from sklearn.linear_model import Lasso

rng = np.random.default_rng(20261127)
n, da, db = 40, 7, 5
latent = rng.normal(size=(n, 4))
a = latent @ rng.normal(size=(4, da)) + 0.3 * rng.normal(size=(n, da))
b = np.tanh(latent @ rng.normal(size=(4, db))) + 0.2 * rng.normal(size=(n, db))


def center_gram(k, unbiased):
    k = k.copy()
    if unbiased:
        m = k.shape[0]
        np.fill_diagonal(k, 0)
        means = k.sum(0) / (m - 2)
        means -= means.sum() / (2 * (m - 1))
        k -= means[:, None]
        k -= means[None, :]
        np.fill_diagonal(k, 0)
    else:
        h = np.eye(k.shape[0]) - 1.0 / k.shape[0]
        k = h @ k @ h
    return k


def cka(k, l, unbiased=False):
    k, l = center_gram(k, unbiased), center_gram(l, unbiased)
    return float((k * l).sum() / (np.linalg.norm(k) * np.linalg.norm(l)))


def rbf(x, frac):
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * frac * frac * np.median(d2)))


def cca(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    qx, qy = scipy.linalg.orth(x), scipy.linalg.orth(y)
    u, s, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    r = min(qx.shape[1], qy.shape[1])
    return np.clip(s[:r], 0, 1), qx @ u[:, :r], x


def svcca(x, y, keep=0.99):
    def reduce(z):
        z = z - z.mean(0)
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        frac = np.cumsum(s ** 2) / (s ** 2).sum()
        k = int(np.searchsorted(frac, keep - 1e-12) + 1)
        return u[:, :k] * s[:k]
    rho, _, _ = cca(reduce(x), reduce(y))
    return float(rho.mean()), rho.tolist()


def pwcca(x, y):
    rho, h, xc = cca(x, y)
    alpha = np.abs(h.T @ xc).sum(1)
    return float((alpha * rho).sum() / alpha.sum())


def z(x):
    return (x - x.mean(0)) / x.std(0)


corr = z(a).T @ z(b) / n
rows, cols = scipy.optimize.linear_sum_assignment(-corr)
partner = [-1] * da
for r, c in zip(rows, cols):
    partner[int(r)] = int(c)
alpha = 0.05
lasso = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=1_000_000).fit(z(a), z(b))

out = {
    "command": "/usr/bin/python3 tests/ConceptSuite.Tests/Explain/Fixtures/make_representations_fixture.py",
    "a": a.tolist(),
    "b": b.tolist(),
    "linear_cka": cka(a @ a.T, b @ b.T),
    "rbf_cka_0.5": cka(rbf(a, 0.5), rbf(b, 0.5)),
    "rbf_cka_1.0": cka(rbf(a, 1.0), rbf(b, 1.0)),
    "debiased_cka": cka(a @ a.T, b @ b.T, unbiased=True),
    "svcca_0.99": svcca(a, b)[0],
    "svcca_rho": svcca(a, b)[1],
    "pwcca": pwcca(a, b),
    "correlation": corr.tolist(),
    "hungarian_partner": partner,
    "lasso_alpha": alpha,
    "lasso_coef": lasso.coef_.T.tolist(),
}
print(json.dumps(out))
