"""The questionnaires tracker scores, with every threshold it uses."""

from __future__ import annotations

import marshmallow as ma
from flask_login import login_required
from flask_smorest import Blueprint

from tracker import instruments
from tracker.instruments import Instrument
from tracker.problems import fail

blp = Blueprint(
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
    remission_below = ma.fields.Integer(metadata={"description": "remission when post < this"})
    response_fall_fraction = ma.fields.Float(metadata={"description": "response: fall ≥ this"})
    max_missing_items = ma.fields.Integer()


class CodesSchema(ma.Schema):
    system = ma.fields.String()
    panel = ma.fields.String()
    total = ma.fields.String()


class InstrumentSchema(InstrumentSummarySchema):
    stem = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(ItemSchema))
    difficulty = ma.fields.Nested(ItemSchema, allow_none=True)
    bands = ma.fields.List(ma.fields.Nested(BandSchema))
    subscales = ma.fields.List(ma.fields.Nested(SubscaleSchema))
    thresholds = ma.fields.Nested(ThresholdsSchema)
    codes = ma.fields.Nested(CodesSchema)
    licence = ma.fields.String()


def definition(instrument: Instrument) -> dict:
    """The full definition as the API shows it."""
    t = instrument.thresholds
    return {
        "code": instrument.code,
        "name": instrument.name,
        "title": instrument.title,
        "version": instrument.version,
        "item_count": instrument.item_count,
        "min_score": instrument.min_score,
        "max_score": instrument.max_score,
        "stem": instrument.stem,
        "items": instrument.items,
        "difficulty": getattr(instrument, "difficulty", None),
        "bands": instrument.bands,
        "subscales": instrument.subscales,
        "thresholds": {
            "cutoff": t.cutoff,
            "mcid": t.mcid,
            "reliable_change": t.reliable_change,
            "remission_below": t.remission_below,
            "response_fall_fraction": t.response_fall_fraction,
            "max_missing_items": instrument.max_missing,
        },
        "codes": instrument.codes,
        "licence": instrument.licence,
    }


@blp.route("", methods=["GET"])
@login_required
@blp.response(200, InstrumentListSchema)
def list_instruments() -> dict:
    """Every instrument this server scores."""
    return {"items": list(instruments.all())}


@blp.route("/<string:code>", methods=["GET"])
@login_required
@blp.response(200, InstrumentSchema)
def get_instrument(code: str) -> dict:
    """One instrument's items, bands, subscales, thresholds and LOINC codes."""
    try:
        return definition(instruments.get(code))
    except KeyError:
        fail(404, f"No instrument {code!r}.")
