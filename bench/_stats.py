"""Order statistics of the benchmarks' latencies."""


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``: the nearest-rank value, no interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
