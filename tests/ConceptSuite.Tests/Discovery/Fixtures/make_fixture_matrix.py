import numpy as np, sys
n, d, r = 200, 30, 5
i = np.arange(n)[:, None].astype(np.float64); j = np.arange(d)[None, :].astype(np.float64)
X = np.zeros((n, d))
for q in range(r):
    X += ((1 + np.sin(0.7 * i + 1.9 * q)) / 2) * ((1 + np.cos(0.3 * j + 2.1 * q)) / 2)
X += 0.05 * (1 + np.sin(0.013 * i * j + 0.5 * i + 0.2 * j))
np.save(sys.argv[1], X.astype(np.float32))
