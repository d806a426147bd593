"""The released HunyuanVideo-Foley files: where they live, fetching, reading, the loading policy, verifying.

Only ``state.py`` and ``load.py`` need torch (imported inside their functions).
"""
