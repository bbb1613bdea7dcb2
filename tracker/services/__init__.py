"""Use cases shared by the JSON API, the FHIR layer and the CLI: load, call the core, store."""
