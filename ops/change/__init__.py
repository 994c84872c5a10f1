"""Everything that can change AWS, and nothing else: read this folder to audit what the toolkit may do.

``steps`` (Step and Plan as data; only ``ops.aws.actions.ALLOWED`` calls can exist), ``runner``
(print -> confirm -> capture -> execute + ``audit`` -> wait -> verify, and the aftermath of a stop),
one module per command holding its checks, its plan builder and its entry point (``api`` Option 1,
``image`` Option 2, ``worker`` Option 3 and restart, ``full`` Option 4), and what they share:
``target`` (the rollback target), ``moved_tag`` (the same-image rule), ``diff``, ``services``.
"""
