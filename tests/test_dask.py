"""Fitting on Dask DataFrames: map-reduce IRLS equals the in-memory fit, on a LocalCluster and on files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import glmformula as gf

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

CASES = [
    ("insurance", "Claims ~ C(District) + Group + Age + offset(log(Holders))", "poisson", None),
    ("clotting", "lot1 ~ log(u)", "gamma", None),
    ("esoph", "cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp", "binomial", None),
    ("warpbreaks", "breaks ~ wool * tension", "quasipoisson", "w"),
    ("mtcars", "mpg ~ wt + hp + C(cyl)", "gaussian(link=log)", None),
]


def assert_equal_fits(distributed_fit, memory_fit):
    np.testing.assert_allclose(distributed_fit.params, memory_fit.params, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(distributed_fit.bse, memory_fit.bse, rtol=1e-8)
    for name in ("deviance", "null_deviance", "pearson_chi2", "scale"):
        np.testing.assert_allclose(getattr(distributed_fit, name), getattr(memory_fit, name), rtol=1e-8,
                                   err_msg=name)
    if np.isfinite(memory_fit.llf):
        np.testing.assert_allclose(distributed_fit.llf, memory_fit.llf, rtol=1e-8)
        np.testing.assert_allclose(distributed_fit.aic, memory_fit.aic, rtol=1e-8)
        np.testing.assert_allclose(distributed_fit.bic, memory_fit.bic, rtol=1e-8)
    assert distributed_fit.n_iter == memory_fit.n_iter
    assert (distributed_fit.nobs, distributed_fit.df_resid) == (memory_fit.nobs, memory_fit.df_resid)


@pytest.mark.parametrize(("dataset", "formula", "family", "weights"), CASES)
def test_partitioned_fit_equals_in_memory_fit(dataset, formula, family, weights):
    data = gf.datasets.load(dataset)
    memory = gf.glm(formula, data, family, weights=weights)
    partitioned = gf.glm(formula, dd.from_pandas(data, npartitions=3), family, weights=weights)
    assert_equal_fits(partitioned, memory)


@pytest.fixture(scope="module")
def cluster_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def test_fit_on_a_local_cluster_of_two_workers(cluster_client):
    assert len(cluster_client.scheduler_info()["workers"]) == 2
    data = gf.datasets.load("insurance")
    formula = CASES[0][1]
    partitioned = gf.glm(formula, dd.from_pandas(data, npartitions=4), "poisson")
    assert_equal_fits(partitioned, gf.glm(formula, data, "poisson"))


def test_fit_on_a_folder_of_csv_files_read_lazily(tmp_path, cluster_client):
    rng = np.random.default_rng(3)
    n = 6000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c", "d"], n),
                         "exposure": rng.uniform(0.5, 2, n)})
    data["y"] = rng.poisson(np.exp(0.3 * data.x + (data.g == "b") * 0.5) * data.exposure).astype(float)
    data.loc[[5, 17], "x"] = np.nan  # dropped in both paths
    for part in range(6):
        data.iloc[part * 1000 : (part + 1) * 1000].to_csv(tmp_path / f"part-{part}.csv", index=False)
    lazy = dd.read_csv(str(tmp_path / "part-*.csv"))
    formula = "y ~ x + g + offset(log(exposure))"
    partitioned = gf.glm(formula, lazy, "poisson")
    memory = gf.glm(formula, data, "poisson")
    assert_equal_fits(partitioned, memory)
    assert partitioned.n_dropped == 2
    np.testing.assert_allclose(partitioned.predict(data.iloc[:20]), memory.predict(data.iloc[:20]), rtol=1e-8)
    predicted = partitioned.predict(lazy).compute()
    assert len(predicted) == n


def test_progress_is_reported(capsys):
    data = gf.datasets.load("dobson")
    gf.glm("counts ~ outcome + treatment", dd.from_pandas(data, npartitions=2), "poisson", verbose=True)
    out = capsys.readouterr().out
    assert "model, iteration 1: deviance" in out


def test_dask_inputs_are_checked():
    ddf = dd.from_pandas(gf.datasets.load("mtcars"), npartitions=2)
    with pytest.raises(gf.DataError, match="must be a column name"):
        gf.glm("mpg ~ wt", ddf, weights=np.ones(32))
    with pytest.raises(gf.FormulaError, match="stateful transforms"):
        gf.glm("mpg ~ poly(wt, 2)", ddf)
    with pytest.raises(gf.FamilyError, match="theta"):
        gf.glm("carb ~ wt", ddf, "negative_binomial")


def test_zero_weight_rows_count_in_bic_as_in_memory():
    """BIC's n is every row of the fit (as R's BIC), zero weights included; see GLMResults.nobs_bic."""
    data = gf.datasets.load("dobson").assign(w=[1, 0, 1, 1, 1, 0, 1, 1, 1.0])
    for family in ("poisson", "gaussian"):
        memory = gf.glm("counts ~ outcome + treatment", data, family, weights="w")
        partitioned = gf.glm("counts ~ outcome + treatment", dd.from_pandas(data, npartitions=2), family, weights="w")
        assert_equal_fits(partitioned, memory)


def test_invalid_starting_means_are_a_clear_error():
    data = pd.DataFrame({"x": [0, 0.5, 1, 1.5], "y": [-0.5, 1.0, 2.0, 3.5]})
    with pytest.raises(gf.FitError, match="cannot find valid starting values"):
        gf.glm("y ~ x", dd.from_pandas(data, npartitions=2), "gaussian(link='log')")


def test_interactions_and_a_large_factor_on_dask_build_no_dummies(cluster_client):
    """Each partition is built as in memory: a slope per group, crossed factors and a 300-level factor from
    text columns, as blocks of codes (the dense matrix of a partition is never formed)."""
    from glmformula.design.categorical import CategoricalDesign

    rng = np.random.default_rng(5)
    n = 40_000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcdefgh"), n),
                         "a": rng.choice(["p", "q", "r"], n), "b": rng.choice(["u", "v"], n),
                         "h": rng.integers(0, 300, n).astype(str), "t": rng.uniform(1, 2, n)})
    data["y"] = rng.poisson(np.exp(0.2 * data.x + np.log(data.t)))
    formula = "y ~ x * g + a * b + h + offset(log(t))"
    memory = gf.glm(formula, data, "poisson")
    assert isinstance(memory.model_data.design, CategoricalDesign)
    partitions = dd.from_pandas(data.astype({"g": "string", "h": "string"}), npartitions=4)
    assert_equal_fits(gf.glm(formula, partitions, "poisson"), memory)
