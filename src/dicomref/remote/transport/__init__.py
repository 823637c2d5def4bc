"""Talking to a server: the Transport protocol and one module per protocol (DIMSE, DICOMweb).

Imports nothing: each module is imported where it is used (start-up time).
"""
