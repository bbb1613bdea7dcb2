"""The flask-smorest object that collects the API blueprints and writes the OpenAPI document."""

from __future__ import annotations

from tracker.problems import ProblemApi

openapi = ProblemApi()
