"""The workflow's steps: one module per Lambda of the state machine, each ``step(state, deps) -> result``.

Steps do the I/O (Novita, the stores, probes); the decisions they apply live in ``workflow/``.
"""
