"""`inv` with every AWS call recorded at the botocore layer: ``python tests/record_calls.py FILE inv-args...``.

Each call (``client operation``) made by the toolkit in that process is appended to FILE, so the e2e
tests can prove that every call is on the toolkit's one action list (``ops.aws.actions.KNOWN``).
Nothing of the toolkit is replaced: botocore's own ``before-call`` event is observed.
"""
from __future__ import annotations

import sys
from typing import Any

import botocore.session
from invoke.main import program


def _observe(record: str) -> None:
    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)

        def note(model: Any, **_: Any) -> None:
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(f"{service_name} {_snake(model.name)}\n")

        client.meta.events.register("before-call", note)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


def _snake(name: str) -> str:
    from botocore import xform_name

    return str(xform_name(name))


if __name__ == "__main__":
    _observe(sys.argv[1])
    sys.argv = ["inv", *sys.argv[2:]]
    sys.exit(program.run())
