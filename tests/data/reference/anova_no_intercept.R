# Analysis of deviance of models without an intercept, computed here with R 4.2.2 (Debian r-base-core).
# Run from the project root:
#   Rscript tests/data/reference/anova_no_intercept.R > tests/data/reference/anova_no_intercept.json
#
# Without an intercept the sequential table starts from the empty model (no columns): glm.fit's EMPTY branch
# gives mu = linkinv(offset), the deviance there (the NULL row), and working weights and residuals at that mu,
# w = prior * mu.eta(eta)^2 / variance(mu) and (y - mu) / mu.eta(eta), against which anova.glm scores the first
# term (test = "Rao").  drop1 of a model's only term refits that empty model too.  Also: anova(smaller, fit)
# between models without an intercept (and in the reverse order), add1's Rao score with an offset (add1.glm
# passes the offset to its auxiliary gaussian glm.fit), anova of two models with equal residual Df, and R's
# error when the empty model's linear predictor is invalid.
suppressPackageStartupMessages(library(jsonlite))
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
tab <- function(a) { a <- as.data.frame(a); list(rows = rownames(a), columns = as.list(a)) }

# name, dataset, formula, R family, glmformula family, prior weights column, add1 scope, a smaller model
cases <- list(
  list(name = "poisson", data = "epil", formula = "y ~ lbase + lage - 1",
       family = poisson(), gf_family = "poisson", add1 = "~ . + trt", smaller = "y ~ lbase - 1"),
  list(name = "poisson_offset", data = "insurance", formula = "Claims ~ District + Group + offset(log(Holders)) - 1",
       family = poisson(), gf_family = "poisson", add1 = "~ . + Age",
       smaller = "Claims ~ District + offset(log(Holders)) - 1"),
  list(name = "poisson_offset_with_intercept", data = "insurance",
       formula = "Claims ~ District + offset(log(Holders))",
       family = poisson(), gf_family = "poisson", add1 = "~ . + Group"),
  list(name = "poisson_offset_one_term", data = "insurance", formula = "Claims ~ District + offset(log(Holders)) - 1",
       family = poisson(), gf_family = "poisson"),
  list(name = "poisson_weighted", data = "warpbreaks", formula = "breaks ~ 0 + tension + wool",
       family = poisson(), gf_family = "poisson", weights = "w"),
  list(name = "binomial_cbind", data = "budworm", formula = "cbind(numdead, numalive) ~ 0 + sex + ldose",
       family = binomial(), gf_family = "binomial", add1 = "~ . + sex:ldose"),
  list(name = "gamma_log", data = "clotting", formula = "lot1 ~ log(u) - 1",
       family = Gamma(link = "log"), gf_family = "Gamma(link='log')"),
  list(name = "gamma_log_two_terms", data = "clotting", formula = "lot1 ~ log(u) + lot2 - 1",
       family = Gamma(link = "log"), gf_family = "Gamma(link='log')"),
  list(name = "gaussian", data = "mtcars", formula = "mpg ~ 0 + wt + hp",
       family = gaussian(), gf_family = "gaussian", add1 = "~ . + qsec", smaller = "mpg ~ 0 + wt")
)

out <- list()
for (case in cases) {
  data <- load_data(case$data)
  fit <- if (is.null(case$weights)) {
    glm(as.formula(case$formula), case$family, data)
  } else {
    data$prior_weights <- data[[case$weights]]
    glm(as.formula(case$formula), case$family, data, weights = prior_weights)
  }
  result <- list(data = case$data, formula = case$formula, family = case$gf_family,
                 null_deviance = fit$null.deviance, df_null = fit$df.null)
  result$weights <- case$weights
  for (test in c("Rao", "Chisq", "LRT", "F")) {
    result[[paste0("anova_", test)]] <- tab(suppressWarnings(anova(fit, test = test)))
  }
  result$drop1_Rao <- tab(drop1(fit, test = "Rao"))
  result$drop1_Chisq <- tab(drop1(fit, test = "Chisq"))
  if (!is.null(case$add1)) {
    result$add1_scope <- case$add1
    result$add1_Rao <- tab(add1(fit, as.formula(case$add1), test = "Rao"))
  }
  if (!is.null(case$smaller)) {
    smaller <- glm(as.formula(case$smaller), case$family, data)
    result$smaller <- case$smaller
    result$compare_Rao <- tab(anova(smaller, fit, test = "Rao"))
    result$compare_Chisq <- tab(anova(smaller, fit, test = "Chisq"))
    result$compare_reversed_Rao <- tab(anova(fit, smaller, test = "Rao"))
  }
  out[[case$name]] <- result
}

# Two models with the same residual Df: anova.glmlist scores the second's working residuals on the first's columns.
warpbreaks <- load_data("warpbreaks")
out$equal_df_compare <- list(
  data = "warpbreaks", family = "poisson", first = "breaks ~ wool", second = "breaks ~ w",
  compare_Rao = tab(anova(glm(breaks ~ wool, poisson, warpbreaks), glm(breaks ~ w, poisson, warpbreaks),
                          test = "Rao"))
)

# Gamma's default inverse link without an intercept: the empty model's eta = 0 is invalid, and R stops.
clotting <- load_data("clotting")
inverse <- glm(lot1 ~ log(u) - 1, Gamma(), clotting)
out$invalid_empty_model <- list(
  data = "clotting", formula = "lot1 ~ log(u) - 1", family = "Gamma",
  anova_Rao = tryCatch(anova(inverse, test = "Rao"), error = conditionMessage),
  drop1_Rao = tryCatch(drop1(inverse, test = "Rao"), error = conditionMessage),
  drop1_Chisq = tryCatch(drop1(inverse, test = "Chisq"), error = conditionMessage),
  null_deviance = inverse$null.deviance
)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "string"), "\n")
