"""Stand-in (tests only)."""


class StructuredOutputsParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
