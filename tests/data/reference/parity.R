# R 4.2 figures for tests/test_parity.py: R's defaults and spellings that glmformula follows (issue 17).
# Run from the project root: Rscript tests/data/reference/parity.R  (needs MASS, pscl, survival, jsonlite).
# Fits use R's own datasets (datasets, MASS, pscl, survival), with R's factor types and level orders; the script
# first checks that the bundled CSVs hold the same values.
suppressPackageStartupMessages({
  library(MASS); library(splines); library(jsonlite); library(pscl); library(survival)
})
data_dir <- "glmformula/datasets/data"
csv <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")))

figures <- function(fit, newdata = NULL) {
  s <- summary(fit)
  co <- coef(fit)
  se <- rep(NA_real_, length(co)); names(se) <- names(co)
  se[rownames(s$coefficients)] <- s$coefficients[, 2]
  out <- list(names = names(co), coef = unname(co), se = unname(se), deviance = deviance(fit),
              null_deviance = fit$null.deviance, df_residual = fit$df.residual, dispersion = s$dispersion,
              fitted_head = unname(head(fitted(fit), 10)),
              term_labels = attr(terms(fit), "term.labels"))
  if (!is.null(newdata)) out$predict_link <- unname(predict(fit, newdata, type = "link"))
  out
}
out <- list()

# -- 2. the bundled datasets: R's factor types and level orders ------------------------------------------
sources <- list(
  esoph = esoph, insurance = Insurance, warpbreaks = warpbreaks, biochemists = bioChemists, quine = quine,
  ships = ships, epil = epil, veteran = veteran
)
types <- list()
for (name in names(sources)) {
  frame <- sources[[name]]
  bundled <- csv(name)
  columns <- list()
  for (column in names(bundled)) {
    r_values <- frame[[column]]
    stopifnot(all(as.character(bundled[[column]]) == as.character(r_values)))  # the CSV holds R's values
    if (is.factor(r_values)) columns[[column]] <- list(levels = levels(r_values), ordered = is.ordered(r_values))
  }
  types[[name]] <- columns
}
out$r_types <- types

# -- 1. ordered factors: contr.poly by default, replayed by predict ----------------------------------------
rows <- c(1, 20, 40, 60, 80, 88)
out$esoph_poly <- figures(glm(cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp, binomial, esoph), esoph[rows, ])
out$esoph_poly$rows <- rows - 1  # 0-based, for pandas
out$esoph_interaction <- figures(glm(cbind(ncases, ncontrols) ~ agegp + tobgp * alcgp, binomial, esoph))
out$esoph_no_intercept <- figures(glm(cbind(ncases, ncontrols) ~ agegp - 1, binomial, esoph))
out$esoph_factor_call <- figures(glm(cbind(ncases, ncontrols) ~ factor(agegp) + tobgp, binomial, esoph))
out$insurance_readme <- figures(glm(Claims ~ factor(District) + Group + Age + offset(log(Holders)), poisson,
                                    Insurance))
out$warpbreaks_r_levels <- figures(glm(breaks ~ wool * tension, poisson, warpbreaks))
bio_nb <- glm.nb(art ~ fem + mar + kid5 + phd + ment, bioChemists)
out$biochemists_nb <- c(figures(bio_nb), theta = bio_nb$theta)

# -- 3. negative binomial with a fixed theta: summary() uses the Pearson dispersion -------------------------
nb1 <- glm(Days ~ Eth + Sex + Age + Lrn, negative.binomial(1), quine)
s <- summary(nb1)
out$nb_fixed_theta <- list(formula = "Days ~ Eth + Sex + Age + Lrn", theta = 1, dispersion = s$dispersion,
                           se = unname(s$coefficients[, 2]), statistic = unname(s$coefficients[, 3]),
                           pvalue = unname(s$coefficients[, 4]),
                           se_dispersion_1 = unname(summary(nb1, dispersion = 1)$coefficients[, 2]))

# -- 4. anova of negative binomial fits (MASS's anova.negbin) ------------------------------------------------
nb_small <- glm.nb(Days ~ Eth + Sex + Age, quine)
nb_large <- glm.nb(Days ~ Eth + Sex + Age + Lrn, quine)
a <- anova(nb_small, nb_large)
out$anova_negbin <- list(small = "Days ~ Eth + Sex + Age", large = "Days ~ Eth + Sex + Age + Lrn",
                         theta = a$theta, resid_df = a$`Resid. df`, twice_loglik = a$`   2 x log-lik.`,
                         df = a$`   df`[2], lr_stat = a$`LR stat.`[2], p_value = a$`Pr(Chi)`[2])
warned <- NULL
seq_table <- withCallingHandlers(anova(nb_large), warning = function(w) {
  warned <<- conditionMessage(w); invokeRestart("muffleWarning")
})
out$anova_negbin_sequential <- list(formula = "Days ~ Eth + Sex + Age + Lrn", terms = rownames(seq_table),
                                    df = seq_table$Df, deviance = seq_table$Deviance,
                                    resid_df = seq_table$`Resid. Df`, resid_dev = seq_table$`Resid. Dev`,
                                    p_value = seq_table$`Pr(>Chi)`, warning = warned)

# -- 5. gaussian log-likelihood with zero prior weights ------------------------------------------------------
zw <- data.frame(x = c(0.1, 0.4, 0.5, 0.9, 1.2, 1.5, 1.7, 2.0, 2.2, 2.6, 2.9, 3.1),
                 y = c(1.3, 1.1, 2.4, 2.2, 3.9, 3.1, 4.4, 5.2, 4.6, 6.1, 6.0, 7.4),
                 w = c(1, 2, 0, 1, 1, 0, 2, 1, 1, 1, 0, 1))
g <- glm(y ~ x, gaussian, zw, weights = w)
out$gaussian_zero_weights <- list(data = zw, loglik = as.character(as.numeric(logLik(g))),
                                  aic = as.character(AIC(g)), bic = as.character(BIC(g)))

# -- 6. %in%: the a:b cells -----------------------------------------------------------------------------------
in_fits <- list(tension_in_wool = "breaks ~ tension %in% wool", wool_plus_in = "breaks ~ wool + tension %in% wool")
out$in_operator <- lapply(in_fits, function(f) {
  fit <- glm(as.formula(f), poisson, warpbreaks)
  c(figures(fit), formula = f, anova_df = list(anova(fit)$Df[-1]))
})
in_terms <- c("y ~ a %in% b", "y ~ x + a %in% b", "y ~ a %in% (b + c)", "y ~ (a + x) %in% b",
              "y ~ a * b %in% c", "y ~ a:b %in% c", "y ~ a %in% b %in% c")
out$in_terms <- lapply(setNames(in_terms, in_terms), function(f) attr(terms(as.formula(f)), "term.labels"))

# -- 7. R spellings ---------------------------------------------------------------------------------------------
mt <- mtcars
new_wt <- data.frame(wt = c(1.0, 1.513, 2.5, 3.3, 5.0, 5.424, 6.0), hp = c(60, 80, 120, 150, 200, 250, 300))
ns_fits <- list(df4 = "mpg ~ ns(wt, df = 4)", two = "mpg ~ ns(wt, df = 3) + ns(hp, df = 2)",
                knots = "mpg ~ ns(hp, knots = c(100, 150, 200))", intercept = "mpg ~ ns(wt, df = 3, intercept = TRUE)")
out$ns <- lapply(ns_fits, function(f) c(figures(glm(as.formula(f), gaussian, mt), new_wt), formula = f))
basis <- ns(mt$wt, df = 4)
out$ns_basis <- list(x = mt$wt, basis = unclass(basis)[, ], knots = attr(basis, "knots"),
                     boundary_knots = attr(basis, "Boundary.knots"),
                     new_x = new_wt$wt, new_basis = predict(basis, new_wt$wt)[, ])
clotting <- data.frame(u = c(5, 10, 15, 20, 30, 40, 60, 80, 100), lot1 = c(118, 58, 42, 35, 27, 25, 21, 19, 18))
stopifnot(all(csv("clotting")$lot1 == clotting$lot1))
out$gamma_power_third <- figures(glm(lot1 ~ log(u), Gamma(link = power(1/3)), clotting))
out$treatment_base_3 <- figures(glm(breaks ~ C(tension, contr.treatment, base = 3), poisson, warpbreaks))
out$contr_sas <- figures(glm(breaks ~ C(tension, contr.SAS), poisson, warpbreaks))
out$subset_ships <- figures(glm(incidents ~ type + factor(year) + factor(period) + offset(log(service)), poisson,
                                ships, subset = service > 0))
out$subset_quine <- figures(glm(Days ~ Eth + Age + Lrn, poisson, quine, subset = Sex == "F" & Age != "F3"))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = FALSE),
           "tests/data/reference/parity.json")
