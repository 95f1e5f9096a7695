"""Classic datasets for count, binomial and positive continuous models.

``load(name)`` returns a fresh DataFrame with R's types: each column that is
a factor in the R package the dataset comes from is a pandas categorical with
that factor's levels in R's order (``DatasetInfo.levels``), *ordered* where R's
factor is ordered (``DatasetInfo.ordered``: esoph's groups, insurance's Group
and Age), so a model gives R's coefficients (treatment contrasts with R's
reference level, ``contr.poly`` for ordered factors).  The levels were read from
R 4.2 (``datasets``, MASS, pscl, survival).  Other text columns become
categoricals with their levels sorted, as R's ``read.csv`` orders them.
``names()`` lists the datasets and ``describe(name)`` tells where each one
comes from, what its columns mean and which model is classically fitted to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import pandas as pd

from glmformula.exceptions import DataError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    source: str
    columns: dict[str, str]
    classic_model: str
    levels: dict[str, tuple] = field(default_factory=dict)
    ordered: frozenset[str] = frozenset()


_CATALOGUE = {
    info.name: info
    for info in [
        DatasetInfo(
            "biochemists", "Articles published by biochemistry PhD students",
            "Long (1990); R package pscl, data(bioChemists)",
            {"art": "articles in the last three years of the PhD", "fem": "gender (Men/Women)",
             "mar": "marital status (Married/Single)", "kid5": "children aged 5 or younger",
             "phd": "prestige of the PhD department", "ment": "articles by the mentor in the last three years"},
            "art ~ fem + mar + kid5 + phd + ment, negative binomial or zero-inflated Poisson",
            levels={"fem": ("Men", "Women"), "mar": ("Single", "Married")},
        ),
        DatasetInfo(
            "birthwt", "Risk factors for low birth weight (Baystate Medical Center, 1986)",
            "Hosmer & Lemeshow (1989); R package MASS, data(birthwt)",
            {"low": "birth weight below 2.5 kg (0/1)", "age": "mother's age in years",
             "lwt": "mother's weight in pounds at last menstrual period", "race": "1 white, 2 black, 3 other",
             "smoke": "smoking during pregnancy (0/1)", "ptl": "previous premature labours",
             "ht": "history of hypertension (0/1)", "ui": "uterine irritability (0/1)",
             "ftv": "physician visits in the first trimester", "bwt": "birth weight in grams"},
            "low ~ age + lwt + C(race) + smoke + ptl + ht + ui, binomial",
        ),
        DatasetInfo(
            "budworm", "Tobacco budworm moths killed by doses of trans-cypermethrin",
            "Collett (1991); Venables & Ripley, MASS, section 7.2",
            {"ldose": "log2 of the dose in micrograms", "numdead": "moths killed (of 20)", "sex": "F/M",
             "numalive": "moths alive", "prop": "proportion killed", "total": "moths per batch (20)"},
            "cbind(numdead, numalive) ~ sex * ldose, binomial",
        ),
        DatasetInfo(
            "clotting", "Blood clotting times by plasma concentration",
            "McCullagh & Nelder (1989), section 8.4.2; example in R's ?glm",
            {"u": "percentage concentration of normal plasma", "lot1": "clotting time (s), lot 1",
             "lot2": "clotting time (s), lot 2"},
            "lot1 ~ log(u), gamma with inverse link",
        ),
        DatasetInfo(
            "dobson", "Randomized controlled trial counts",
            "Dobson (1990), An Introduction to Generalized Linear Models, p. 93; example in R's ?glm",
            {"counts": "number of patients", "outcome": "outcome category o1-o3",
             "treatment": "treatment t1-t3"},
            "counts ~ outcome + treatment, poisson",
        ),
        DatasetInfo(
            "epil", "Seizure counts of epileptics in a clinical trial",
            "Thall & Vail (1990); R package MASS, data(epil)",
            {"y": "seizures in the two-week period", "trt": "placebo/progabide", "base": "baseline count (8 weeks)",
             "age": "age in years", "V4": "indicator of the fourth period", "subject": "patient id",
             "period": "period 1-4", "lbase": "log(base/4), centred", "lage": "log(age), centred"},
            "y ~ lbase * trt + lage + V4, poisson or negative binomial (cluster by subject)",
            levels={"trt": ("placebo", "progabide")},
        ),
        DatasetInfo(
            "esoph", "Oesophageal cancer case-control study (Ille-et-Vilaine)",
            "Breslow & Day (1980); R's datasets::esoph",
            {"agegp": "age group", "alcgp": "alcohol consumption group", "tobgp": "tobacco consumption group",
             "ncases": "number of cases", "ncontrols": "number of controls"},
            "cbind(ncases, ncontrols) ~ agegp + tobgp * alcgp, binomial",
            levels={"agegp": ("25-34", "35-44", "45-54", "55-64", "65-74", "75+"),
                    "alcgp": ("0-39g/day", "40-79", "80-119", "120+"),
                    "tobgp": ("0-9g/day", "10-19", "20-29", "30+")},
            ordered=frozenset({"agegp", "alcgp", "tobgp"}),
        ),
        DatasetInfo(
            "insurance", "Car insurance claims by district, car group and age of driver",
            "Baxter, Coutts & Ross (1980); R package MASS, data(Insurance)",
            {"District": "district of residence 1-4 (numeric code)", "Group": "car group by engine size",
             "Age": "age group of the policyholder", "Holders": "number of policyholders (exposure)",
             "Claims": "number of claims"},
            "Claims ~ C(District) + Group + Age + offset(log(Holders)), poisson",
            levels={"District": (1, 2, 3, 4), "Group": ("<1l", "1-1.5l", "1.5-2l", ">2l"),
                    "Age": ("<25", "25-29", "30-35", ">35")},
            ordered=frozenset({"Group", "Age"}),
        ),
        DatasetInfo(
            "lung", "Survival in patients with advanced lung cancer (North Central Cancer Treatment Group)",
            "Loprinzi et al. (1994); R package survival, data(lung)",
            {"inst": "institution code", "time": "survival time in days",
             "status": "censoring status: 1 censored, 2 dead (R's Surv accepts this coding)",
             "age": "age in years", "sex": "1 male, 2 female",
             "ph.ecog": "ECOG performance score by the physician (0 good - 5 dead)",
             "ph.karno": "Karnofsky performance score by the physician (0 bad - 100 good)",
             "pat.karno": "Karnofsky performance score by the patient",
             "meal.cal": "calories consumed at meals", "wt.loss": "weight loss in the last six months (pounds)"},
            "Surv(time, status) ~ age + sex + ph.ecog, Cox or piecewise-exponential (gf.pwexp)",
        ),
        DatasetInfo(
            "mtcars", "Motor Trend car road tests (1974)",
            "Henderson & Velleman (1981); R's datasets::mtcars, with hpwt = hp + wt added",
            {"mpg": "miles per US gallon", "cyl": "cylinders", "disp": "displacement (cu. in.)",
             "hp": "gross horsepower", "drat": "rear axle ratio", "wt": "weight (1000 lbs)",
             "qsec": "quarter-mile time (s)", "vs": "engine V-shaped 0 / straight 1",
             "am": "transmission automatic 0 / manual 1", "gear": "forward gears",
             "carb": "carburettors", "hpwt": "hp + wt (an exactly collinear column)"},
            "am ~ hp + wt, binomial; mpg ~ wt + hp, gaussian with log link",
        ),
        DatasetInfo(
            "quine", "Days absent from school, children in rural New South Wales",
            "Quine (1978); R package MASS, data(quine)",
            {"Eth": "ethnic background A (aboriginal) / N", "Sex": "F/M", "Age": "age group F0-F3",
             "Lrn": "learner status AL (average) / SL (slow)", "Days": "days absent"},
            "Days ~ Sex/(Age + Eth*Lrn), negative binomial",
            levels={"Eth": ("A", "N"), "Sex": ("F", "M"), "Age": ("F0", "F1", "F2", "F3"), "Lrn": ("AL", "SL")},
        ),
        DatasetInfo(
            "ships", "Ship damage incidents by type, construction and operation period",
            "McCullagh & Nelder (1989), section 6.3.2; R package MASS, data(ships)",
            {"type": "ship type A-E", "year": "year of construction (60, 65, 70, 75)",
             "period": "period of operation (60, 75)", "service": "aggregate months of service",
             "incidents": "number of damage incidents"},
            "incidents ~ type + C(year) + C(period) + offset(log(service)), poisson, rows with service > 0",
            levels={"type": ("A", "B", "C", "D", "E")},
        ),
        DatasetInfo(
            "warpbreaks", "Breaks in yarn during weaving",
            "Tippett (1950); R's datasets::warpbreaks, with an integer weight column w added",
            {"breaks": "number of breaks", "wool": "wool type A/B", "tension": "tension L/M/H (low, medium, high)",
             "w": "example prior weights"},
            "breaks ~ wool * tension, poisson",
            levels={"wool": ("A", "B"), "tension": ("L", "M", "H")},
        ),
        DatasetInfo(
            "veteran", "Veterans' Administration lung cancer trial",
            "Kalbfleisch & Prentice (1980); R package survival, data(veteran)",
            {"trt": "treatment 1 standard, 2 test", "celltype": "cell type (squamous, smallcell, adeno, large)",
             "time": "survival time in days", "status": "censoring status: 0 censored, 1 dead",
             "karno": "Karnofsky performance score (100 good)", "diagtime": "months from diagnosis to randomisation",
             "age": "age in years", "prior": "prior therapy (0 no, 10 yes)"},
            "Surv(time, status) ~ trt + celltype + karno + diagtime + age + prior, Cox or piecewise-exponential",
            levels={"celltype": ("squamous", "smallcell", "adeno", "large")},
        ),
    ]
}


def names() -> list[str]:
    """Names of the bundled datasets."""
    return sorted(_CATALOGUE)


def describe(name: str) -> DatasetInfo:
    """Source, columns and classic model of a bundled dataset."""
    return _CATALOGUE[_checked(name)]


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a new DataFrame, R's factors as categoricals with R's levels (ordered where
    R's are), other text columns as categoricals with sorted levels."""
    path = resources.files("glmformula.datasets").joinpath("data", f"{_checked(name)}.csv")
    with path.open("rb") as handle:
        frame = pd.read_csv(handle)
    info = _CATALOGUE[name]
    for column in frame.columns:
        values = frame[column]
        if column in info.levels or not pd.api.types.is_numeric_dtype(values):
            categories = info.levels.get(column) or sorted(values.dropna().unique())
            frame[column] = pd.Categorical(values, categories=list(categories), ordered=column in info.ordered)
    return frame


def _checked(name: str) -> str:
    if name not in _CATALOGUE:
        raise DataError(f"no bundled dataset {name!r}; available: {', '.join(names())}")
    return name


__all__ = ["DatasetInfo", "describe", "load", "names"]
