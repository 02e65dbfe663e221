"""The contract between the engine and the connectors: what flows, and who does what.

``records`` (directory objects in a shape no connector owns, pages, checkpoints),
``protocols`` (the :class:`Source` and :class:`Target` every connector implements),
``errors`` (failures classified by what the engine must do) and ``checks`` (what a
connector says about itself when asked). Connectors and the engine both import
this package and never each other
(docs/architecture.md, "Floors: which package may import which").
"""
