"""Minkowski (Lp) medians, ``1 <= p <= inf``: the solvers and their certificate.

Pure NumPy, shared by both backends, in the layout
``(P, d, n)``: the sums over the points run along the contiguous last axis, where NumPy
adds pairwise. ``p = 2`` never comes here (it is the geometric median of the kernels).

- :mod:`.norms`: ``|r|**e`` with the cheap exponents special-cased, and the p-norms;
- :mod:`.certificate`: the dual lower bound for every p;
- :mod:`.coordinate_median`: ``p = 1``, exact, by selection;
- :mod:`.newton`: ``1 < p < inf``, Newton with the exact Hessian;
- :mod:`.chebyshev`: ``p = inf``, linear programs;
- :mod:`.simplex`: the exact simplex method for those programs (their l1 dual).
"""
