"""Person-years tables: split data aggregated by covariate pattern and interval.

The Poisson log-likelihood of the split rows depends on the data only through
the events and the exposure summed over the rows that share a linear
predictor.  For the rows r of one covariate pattern x in interval k, with
mu_r = exposure_r exp(eta) and a common eta,

    sum_r (d_r eta - exposure_r exp(eta)) = D eta - E exp(eta),    D = sum_r d_r,  E = sum_r exposure_r,

which is one Poisson row with count D and exposure E (the remaining
-log(d_r!) terms are constants).  So the model

    event ~ interval + x + offset(log(exposure))

fitted to the table has the same estimates and standard errors as on the split
rows, from far fewer rows when the covariates are categorical; only the
deviance and its degrees of freedom differ (the saturated model differs).  This
is how epidemiologists have long fitted rates: events and person-years by
age band, period and exposure group.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from glmformula.exceptions import DataError, MissingColumnError


def person_years(
    split_data: pd.DataFrame,
    by: str | Sequence[str],
    *,
    interval: str = "interval",
    event: str = "event",
    exposure: str = "exposure",
) -> pd.DataFrame:
    """Events and exposure summed by covariate pattern and interval.

    Parameters
    ----------
    split_data : pandas.DataFrame
        The output of ``glmformula.survival.split``.
    by : str or sequence of str
        The covariate column(s) of the model; rows with a missing value in one of
        them are left out (as a GLM fit on the split data leaves them out).
    interval : str, default "interval"
        The split's interval column.
    event : str, default "event"
        The split's event column.
    exposure : str, default "exposure"
        The split's exposure column.

    Returns
    -------
    pandas.DataFrame
        One row per observed combination of ``by`` and ``interval`` (in sorted order),
        with the summed ``event`` and ``exposure`` and ``rows``, the split rows pooled;
        the interval keeps its categorical type.
    """
    if not isinstance(split_data, pd.DataFrame):
        raise DataError(f"person_years needs the DataFrame returned by split, got {type(split_data).__name__}")
    keys = [by] if isinstance(by, str) else list(by)
    if interval in keys:
        raise DataError(f"by lists {interval!r}, the interval column, which is always a key")
    for name in (*keys, interval, event, exposure):
        if name not in split_data.columns:
            raise MissingColumnError(f"column {name!r} is not in the split data (columns: "
                                     f"{', '.join(map(str, split_data.columns))})")
    grouped = split_data.groupby([*keys, interval], observed=True, sort=True, dropna=True)
    table = grouped.agg(**{event: (event, "sum"), exposure: (exposure, "sum"), "rows": (event, "size")})
    return table.reset_index()
