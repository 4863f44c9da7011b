"""Deterministic demo data for the demo event: the attendee list and how it is generated."""
