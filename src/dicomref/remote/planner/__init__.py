"""The planner, pure: what is wanted and known → the next steps (the only place that builds steps).

Imports nothing: each module is imported where it is used (start-up time).
"""
