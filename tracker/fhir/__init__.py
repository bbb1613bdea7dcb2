"""FHIR R4 for EHRs: pure mapping and search parsing, plus the /fhir blueprint."""
