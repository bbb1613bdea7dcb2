"""The questionnaires tracker scores, with every threshold it uses."""

from __future__ import annotations

import marshmallow as ma
from flask_login import login_required

from tracker import instruments
from tracker.api.blueprint import ApiBlueprint
from tracker.problems import documented_problems, fail

blp = ApiBlueprint(
    "instruments", __name__, url_prefix="/api/v1/instruments", description="Instruments"
)


class InstrumentSummarySchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    title = ma.fields.String()
    version = ma.fields.String()
    item_count = ma.fields.Integer()
    min_score = ma.fields.Integer()
    max_score = ma.fields.Integer()


class InstrumentListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(InstrumentSummarySchema))


class OptionSchema(ma.Schema):
    value = ma.fields.Integer()
    label = ma.fields.String()
    loinc = ma.fields.String(allow_none=True)


class ItemSchema(ma.Schema):
    number = ma.fields.Integer()
    text = ma.fields.String()
    options = ma.fields.List(ma.fields.Nested(OptionSchema))
    loinc = ma.fields.String(allow_none=True)


class BandSchema(ma.Schema):
    code = ma.fields.String()
    label = ma.fields.String()
    min = ma.fields.Integer()
    max = ma.fields.Integer()


class SubscaleSchema(ma.Schema):
    code = ma.fields.String()
    label = ma.fields.String()
    items = ma.fields.List(ma.fields.Integer())


class ThresholdsSchema(ma.Schema):
    cutoff = ma.fields.Integer(metadata={"description": "screen_positive when total ≥ cutoff"})
    mcid = ma.fields.Integer(metadata={"description": "minimal clinically important difference"})
    reliable_change = ma.fields.Integer(metadata={"description": "reliable change threshold"})
    remission_below = ma.fields.Integer(
        metadata={"description": "remission when post < this (judged for cases only)"}
    )
    caseness = ma.fields.Integer(
        metadata={"description": "a baseline ≥ this is a case: response and remission judged"}
    )
    recovery_below = ma.fields.Integer(
        metadata={"description": "reliable recovery (clinically_significant) when post < this"}
    )
    response_fall_fraction = ma.fields.Float(metadata={"description": "response: fall ≥ this"})


class CodesSchema(ma.Schema):
    system = ma.fields.String()
    panel = ma.fields.String()
    total = ma.fields.String()
    answer_list = ma.fields.String(allow_none=True)


class FlagRuleSchema(ma.Schema):
    code = ma.fields.String()
    item = ma.fields.Integer()
    at_least = ma.fields.Integer()


class InstrumentSchema(InstrumentSummarySchema):
    stem = ma.fields.String()
    instructions = ma.fields.String(allow_none=True)
    recall_period = ma.fields.String(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(ItemSchema))
    difficulty = ma.fields.Nested(ItemSchema, allow_none=True)
    bands = ma.fields.List(ma.fields.Nested(BandSchema))
    subscales = ma.fields.List(ma.fields.Nested(SubscaleSchema))
    thresholds = ma.fields.Nested(ThresholdsSchema)
    codes = ma.fields.Nested(CodesSchema)
    max_missing = ma.fields.Integer(metadata={"description": "skipped items allowed"})
    flags = ma.fields.List(ma.fields.Nested(FlagRuleSchema))
    has_provisional_diagnosis = ma.fields.Boolean()
    has_depressive_syndrome = ma.fields.Boolean(
        metadata={"description": "responses carry depressive_syndrome (PHQ-9 algorithm)"}
    )
    licence = ma.fields.String()


@blp.route("", methods=["GET"])
@login_required
@documented_problems(blp, 401)
@blp.response(200, InstrumentListSchema)
def list_instruments() -> dict:
    """Every instrument this server scores."""
    return {"items": [i.summary() for i in instruments.all()]}


@blp.route("/<string:code>", methods=["GET"])
@login_required
@documented_problems(blp, 401, 404)
@blp.response(200, InstrumentSchema)
def get_instrument(code: str) -> dict:
    """One instrument's items, bands, subscales, thresholds and LOINC codes."""
    try:
        return instruments.get(code).definition()
    except KeyError:
        fail(404, f"No instrument {code!r}.")
