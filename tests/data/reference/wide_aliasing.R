# References for R's ordered aliasing on block designs whose rank deficiency goes beyond empty cells (the
# block elimination of engine/ordered_aliasing.py): R 4.2's glm on data this script generates.
#   - two crossed factors whose levels form three connected sets (a x b never mixes across them),
#   - the same with the large factor's levels first (other columns after the levels),
#   - a covariate constant within the large factor's levels (an integer per level),
#   - a numeric column equal to 3 * [b = b005] - 2 * [b = b007] + 0.5 * [b = b100],
#   - g * h with empty cells and a cell that equals its h level (h10 only with g3).
# Run from the project root: Rscript tests/data/reference/wide_aliasing.R
# Writes tests/data/reference/wide_aliasing_data.csv and tests/data/reference/wide_aliasing.json.
library(jsonlite)
set.seed(20261208)
n <- 4000
component <- sample(0:2, n, replace = TRUE)
d <- data.frame(
  x = round(rnorm(n), 4),
  a = sprintf("a%02d", component * 13 + sample(1:13, n, replace = TRUE)),
  b = sprintf("b%03d", component * 100 + sample(1:100, n, replace = TRUE)),
  g = sample(sprintf("g%d", 1:5), n, replace = TRUE),
  h = sample(sprintf("h%02d", 1:30), n, replace = TRUE),
  t = round(runif(n, 0.5, 2), 4),
  stringsAsFactors = FALSE
)
d$g[d$h >= "h26"] <- "g1"  # empty cells g2..g5 x h26..h30
d$g[d$h == "h10"] <- "g3"  # the cell g3:h10 is the level h10
b_values <- sample(20:60, 300, replace = TRUE)
d$xb <- b_values[as.integer(factor(d$b, levels = sprintf("b%03d", 1:300)))]
d$z <- 3 * (d$b == "b005") - 2 * (d$b == "b007") + 0.5 * (d$b == "b100")
b_effect <- round(rnorm(300, sd = 0.3), 4)
eta <- 0.2 + 0.3 * d$x + b_effect[as.integer(factor(d$b))] + 0.1 * (d$g == "g2") + log(d$t)
d$y <- rpois(n, exp(eta))
write.csv(d, "tests/data/reference/wide_aliasing_data.csv", row.names = FALSE)
for (v in c("a", "b", "g", "h")) d[[v]] <- factor(d[[v]])

cases <- list(
  components = "y ~ x + a + b + offset(log(t))",
  components_levels_first = "y ~ b + x + a + offset(log(t))",
  level_constant = "y ~ x + xb + b + offset(log(t))",
  combination = "y ~ x + z + a + b + offset(log(t))",
  interaction_empty_cells = "y ~ x + g * h + offset(log(t))"
)
# R's aliased set is glm's at its default control (rank tolerance min(1e-7, 1e-8 / 1000) = 1e-11): with
# epsilon = 1e-12 that tolerance would be 1e-15, below what its QR resolves.  The tight figures are glm's on the
# kept columns alone (the model glm solves) with epsilon = 1e-12.
out <- list()
for (name in names(cases)) {
  f <- as.formula(cases[[name]])
  default <- glm(f, family = poisson, data = d)
  co <- coef(default)
  aliased <- is.na(co)
  x <- model.matrix(default)[, !aliased, drop = FALSE]
  tight <- glm(d$y ~ x - 1, family = poisson, offset = log(d$t), control = glm.control(epsilon = 1e-12, maxit = 50))
  stopifnot(tight$converged, tight$rank == ncol(x))
  s <- summary(tight)
  coefficients <- se <- rep(NA_real_, length(co))
  coefficients[!aliased] <- coef(tight)
  se[!aliased] <- s$coefficients[, "Std. Error"]
  default_se <- rep(NA_real_, length(co))
  default_se[!aliased] <- summary(default)$coefficients[, "Std. Error"]
  out[[name]] <- list(formula = cases[[name]], names = names(co), aliased = unname(aliased), rank = default$rank,
                      coefficients = coefficients, se = se, deviance = deviance(tight),
                      null_deviance = tight$null.deviance, default_coefficients = unname(co),
                      default_se = default_se, default_deviance = deviance(default), default_iter = default$iter)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/data/reference/wide_aliasing.json")
