"""Sphinx configuration: ``sphinx-build -W -b html docs <out>`` (the ``docs`` extra)."""

import geomedian

project = "geomedian"
author = "the geomedian developers"
copyright = "the geomedian developers"
version = release = geomedian.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # MathJax copied into the built pages (_static/mathjax) instead of a CDN: the formulas
    # render offline. No LaTeX needed, unlike sphinx.ext.imgmath.
    "sphinx-mathjax-offline",
]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the NumPy-style Parameters sections already give the types
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["wrap.css"]  # long code lines wrap instead of running off the page
html_theme_options = {
    "description": "Fast, certified geometric medians",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "body_max_width": "none",
}
