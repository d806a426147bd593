"""Model parts more than one backend uses (Synchformer: HunyuanVideo-Foley's and MMAudio's sync encoder).

One readable file per model, state-dict compatible with the released weights.
Imported by backends only (these need torch); each backend's own networks stay
in its folder (``backends/<name>/models/``).
"""
