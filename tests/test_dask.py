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
    assert list(distributed_fit.params.index) == list(memory_fit.params.index)
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


def test_spline_and_other_stateful_transforms_learn_from_the_whole_data(cluster_client):
    """bs, poly, ns, scale and center learn their state (knots, centring, polynomial coefficients) from the
    complete rows of the whole data, as in memory, and replay it on every partition (real 2-process cluster)."""
    rng = np.random.default_rng(11)
    n = 3000
    data = pd.DataFrame({"x": rng.gamma(2.0, 1.0, n), "z": rng.normal(3, 2, n), "u": rng.uniform(0, 5, n),
                         "v": rng.normal(size=n), "g": rng.choice(["a", "b", "c", "d"], n)})
    data["y"] = rng.poisson(np.exp(0.3 * np.sin(data.x) + 0.1 * data.z)).astype(float)
    data.loc[[3, 40, 2001], "z"] = np.nan  # the transforms learn from the rows the fit uses
    partitions = dd.from_pandas(data, npartitions=4)  # each partition's own knots would differ
    for formula in ("y ~ bs(x, df=5) + g", "y ~ poly(x, 2) + scale(z) + center(v) + ns(u, df=3) + g"):
        assert_equal_fits(gf.glm(formula, partitions, "poisson"), gf.glm(formula, data, "poisson"))


def test_interaction_with_text_columns_on_two_workers(cluster_client):
    """``g*x + h`` with string columns (pyarrow strings, as read_parquet gives them): the same design and fit."""
    rng = np.random.default_rng(12)
    n = 4000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["north", "south", "east"], n),
                         "h": rng.choice([f"shop{i}" for i in range(30)], n)})
    data["y"] = rng.poisson(np.exp(0.4 * data.x * (data.g == "east") + 0.2)).astype(float)
    text = data.astype({"g": "string[pyarrow]", "h": "string[pyarrow]"})
    formula = "y ~ g*x + h"
    assert_equal_fits(gf.glm(formula, dd.from_pandas(text, npartitions=4), "poisson"),
                      gf.glm(formula, data, "poisson"))


def test_negative_binomial_with_theta_estimated_equals_glm_nb_in_memory(cluster_client):
    """glm.nb's alternation on the partitions: theta, its standard error, the coefficients and the
    likelihood as in memory."""
    rng = np.random.default_rng(13)
    n = 3000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcde"), n), "t": rng.uniform(1, 3, n)})
    mean = np.exp(0.5 + 0.3 * data.x) * data.t
    data["y"] = rng.negative_binomial(1.5, 1.5 / (1.5 + mean)).astype(float)
    formula = "y ~ x + g + offset(log(t))"
    memory = gf.glm(formula, data, "negative_binomial")
    partitioned = gf.glm(formula, dd.from_pandas(data, npartitions=4), "negative_binomial")
    np.testing.assert_allclose(partitioned.theta, memory.theta, rtol=1e-8)
    np.testing.assert_allclose(partitioned.theta_se, memory.theta_se, rtol=1e-7)
    assert_equal_fits(partitioned, memory)


def test_parquet_files_are_read_at_each_pass_without_keeping_designs(tmp_path, cluster_client):
    """Data read from files are streamed: each pass reads and builds every partition again (out of core);
    the fit is the in-memory one."""
    from glmformula.distributed.executor import StreamedPartitions, in_memory

    rng = np.random.default_rng(14)
    n = 4000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["p", "q", "r"], n), "e": rng.uniform(1, 2, n)})
    data["y"] = rng.poisson(np.exp(0.2 * data.x) * data.e).astype(float)
    for part in range(4):
        data.iloc[part * 1000:(part + 1) * 1000].to_parquet(tmp_path / f"part-{part}.parquet", index=False)
    lazy = dd.read_parquet(str(tmp_path))
    assert not in_memory(lazy) and in_memory(lazy.persist())
    assert StreamedPartitions.FAN_IN >= 2
    formula = "y ~ x + g + offset(log(e))"
    assert_equal_fits(gf.glm(formula, lazy, "poisson"), gf.glm(formula, data, "poisson"))


def test_kept_and_streamed_partitions_give_the_same_sums():
    """The three executors add the same partial sums (designs kept here, in another process, or rebuilt)."""
    from glmformula.distributed import partition
    from glmformula.distributed.dask_glm import _partition_model
    from glmformula.distributed.executor import LocalPartitions, StreamedPartitions

    data = gf.datasets.load("insurance")
    ddf = dd.from_pandas(data, npartitions=3)
    family = gf.family("poisson")
    model, _ = _partition_model(CASES[0][1], ddf, family, None, None, None, "drop")
    beta = np.full(len(model.columns), 0.01)
    sums = [executor.map_reduce(partition.point, family=family, keep=None, beta=beta)
            for executor in (LocalPartitions(ddf.to_delayed(), model), StreamedPartitions(ddf, model))]
    np.testing.assert_allclose(sums[0]["gram"], sums[1]["gram"], rtol=1e-13)
    assert sums[0]["deviance"] == pytest.approx(sums[1]["deviance"], rel=1e-13)


@pytest.mark.parametrize(("formula", "family"), [
    ("y ~ x + g + offset(log(e))", "gamma(link=log)"),  # closed form, variance mu^2
    ("c ~ 0 + x + g + offset(log(e))", "poisson"),  # no intercept: mu = exp(offset)
    ("s ~ x + g + offset(log(e) / 4)", "binomial"),  # no closed form: the intercept-only IRLS
])
def test_null_deviance_of_every_kind_equals_the_in_memory_one(formula, family):
    rng = np.random.default_rng(21)
    n = 3000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abc"), n), "e": rng.uniform(1, 3, n)})
    data["y"] = rng.gamma(2.0, np.exp(0.3 * data.x) * data.e / 2.0)
    data["c"] = rng.poisson(np.exp(0.3 * data.x) * data.e).astype(float)
    data["s"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-0.5 * data.x))).astype(float)
    assert_equal_fits(gf.glm(formula, dd.from_pandas(data, npartitions=3), family), gf.glm(formula, data, family))


def test_the_null_deviance_rides_on_the_fits_own_passes():
    """A Poisson fit with an offset takes its start, one pass an iteration and the pass of the final summaries:
    the closed-form null model's sums come with the first and the last (no passes of their own)."""
    data = gf.datasets.load("insurance")
    fit = gf.glm(CASES[0][1], dd.from_pandas(data, npartitions=3), "poisson")
    assert fit.passes == fit.n_iter + 2
    np.testing.assert_allclose(fit.null_deviance, gf.glm(CASES[0][1], data, "poisson").null_deviance, rtol=1e-10)


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", "string[python]", "object", "category"])
def test_partition_text_is_cast_to_the_learned_levels_as_pandas_does(dtype):
    """Arrow-backed text takes Arrow's lookup (``partition.as_levels``): the same codes and categories as
    ``pd.Categorical(values, categories=levels)``, missing values included, levels absent from the partition kept."""
    from glmformula.distributed.partition import as_levels

    levels = ["east", "north", "south", "west", "zone 9"]
    values = pd.Series(["south", None, "east", "west", "south", "east"]).astype(dtype)
    cast = as_levels(values, levels)
    expected = pd.Categorical(["south", None, "east", "west", "south", "east"], categories=levels)
    np.testing.assert_array_equal(cast.codes, [2, -1, 0, 3, 2, 0])
    assert cast.dtype == expected.dtype


@pytest.mark.parametrize(("family", "null_is_nan"), [
    ("gamma", True),  # the inverse link at eta = 0 (no intercept, no offset): mu = inf, R's null deviance NaN
    ("gamma(link=log)", False),  # mu = exp(0) = 1 is valid: a number, the same as in memory
])
def test_null_deviance_without_intercept_is_nan_when_the_empty_models_means_are_invalid(family, null_is_nan,
                                                                                        cluster_client):
    rng = np.random.default_rng(8)
    n = 400
    data = pd.DataFrame({"x": rng.uniform(0.5, 2.0, n)})
    data["y"] = rng.gamma(4.0, 1 / (0.8 * data.x) / 4.0)
    formula = "y ~ x - 1"
    memory = gf.glm(formula, data, family)
    partitioned = gf.glm(formula, dd.from_pandas(data, npartitions=3), family)
    assert np.isnan(memory.null_deviance) == null_is_nan
    assert np.isnan(partitioned.null_deviance) == null_is_nan
    if not null_is_nan:
        np.testing.assert_allclose(partitioned.null_deviance, memory.null_deviance, rtol=1e-8)
    np.testing.assert_allclose(partitioned.params, memory.params, rtol=1e-8)
    np.testing.assert_allclose(partitioned.deviance, memory.deviance, rtol=1e-8)
