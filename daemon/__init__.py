"""memoird.daemon"""

import memoird.editor  # noqa: F401  (before torch starts: see its docstring)
