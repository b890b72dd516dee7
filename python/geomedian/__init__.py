"""geomedian: fast, certified geometric medians (Fermat-Weber points).

>>> import geomedian
>>> res = geomedian.solve([[1, 2], [3, 4], [5, 6]])
>>> res.median, res.converged
(array([3., 4.]), True)
"""

from ._api import geometric_median, gradient, objective, solve, tree_median, tree_solve
from ._backends import backends
from ._config import show_config
from ._geomad import GeoMADResult, geomad
from ._paths.online import OnlineGeometricMedian
from ._result import ConvergenceWarning, GeometricMedianResult
from ._version import __version__

__all__ = [
    "ConvergenceWarning",
    "GeoMADResult",
    "GeometricMedianResult",
    "OnlineGeometricMedian",
    "__version__",
    "backends",
    "geomad",
    "geometric_median",
    "gradient",
    "objective",
    "show_config",
    "solve",
    "tree_median",
    "tree_solve",
]


def __dir__() -> list[str]:
    return __all__
