"""JSON responses written by orjson, with what Flask's own provider writes for the same values.

totals.json by sender is some 1,800 rows: Python's json module took 1.4–1.7 ms to write it and orjson
0.13 ms (docs/benchmarks.md). The output parses to the same values as before: keys sorted, compact out of
debug mode, dates as HTTP dates, and anything else orjson does not know handed to Flask's own conversion.
It differs only in its bytes: Japanese is written as UTF-8, not as \\u escapes, as the response's charset
already declares. Reading JSON is left to Flask's provider.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

# Dates and times go to Flask's conversion (an HTTP date), not orjson's ISO form: no caller sees a change.
# Dictionary keys that are not strings are written as strings, as json.dumps does.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # a caller's own json.dumps arguments (indent, separators …): Python's json honours them
            return super().dumps(obj, **kwargs)
        return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        option = _OPTIONS | orjson.OPT_APPEND_NEWLINE
        if (self.compact is None and self._app.debug) or self.compact is False:
            option |= orjson.OPT_INDENT_2
        return Response(orjson.dumps(obj, default=self.default, option=option), mimetype=self.mimetype)


def register(app: Flask) -> None:
    app.json = OrjsonProvider(app)
