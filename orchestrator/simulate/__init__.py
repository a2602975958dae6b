"""The simulator: a scenario of thousands of instances replayed through the real control plane.

`scenario` reads the YAML strictly, `engine` runs it on a fake clock with simulated agents that
speak the real agent protocol, `report` writes the timeline, the summary and the picture.
"""
