"""The Blueprint every API module uses: query strings are validated as strictly as bodies."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser


class StrictParser(FlaskParser):
    """An unknown query parameter is an error: a mistyped window must not be ignored."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictParser()
