"""Measuring what a server really does, per transport.

Imports nothing: each module is imported where it is used (start-up time).
"""
