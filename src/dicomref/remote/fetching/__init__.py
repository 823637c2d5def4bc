"""One loop that drives any transport: locate, fetch, what is already here, what arrives,
the report.

Imports nothing: each module is imported where it is used (start-up time).
"""
