"""Importing this module pauses the garbage collector for a function's init.

Init (importing the function's modules, building its clients) allocates a great deal and frees
almost nothing, so the collections it triggers find no garbage; they took about a sixth of a
function's init (``make bench``, docs/BENCHMARKS.md). Every ``functions/<name>/app.py`` imports this
module before the rest of the layer; :meth:`novita_orchestrator.deps.Once.build_now` resumes
collecting once the function's collaborators are built. Nothing else imports it.
"""

from __future__ import annotations

import gc

gc.disable()
