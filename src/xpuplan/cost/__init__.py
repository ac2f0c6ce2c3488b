"""The cost model: pure functions from (model, chip, job, plans) to seconds and bytes.

Every function here takes a :class:`~xpuplan.plan.PlanGrid` whose fields are
numpy arrays, so one code path prices one plan or a million (the search uses
the same functions as ``train``). No I/O, no state. Equations and notation:
``docs/model.md``.
"""
