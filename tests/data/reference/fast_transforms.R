# References for numeric transforms beside factors on the fast path (issue 15: splines, poly, ns, log,
# I() next to categorical blocks, and a factor crossed with a transform): R 4.2's glm on data this script
# generates (glm.control(epsilon = 1e-12): converged tightly), with the knots R's bs() and ns() learn from
# the full data and predictions on new rows.
# Run from the project root: Rscript tests/data/reference/fast_transforms.R
# Writes tests/data/reference/fast_transforms_data.csv, fast_transforms_newdata.csv and fast_transforms.json.
library(jsonlite)
library(splines)
set.seed(20261207)
n <- 4000
d <- data.frame(
  x = round(rnorm(n), 4),
  z = round(runif(n, 0.5, 3), 4),
  g = sample(sprintf("g%02d", 1:12), n, replace = TRUE),
  h = sample(sprintf("h%03d", 1:200), n, replace = TRUE),
  t = round(runif(n, 1, 2), 4),
  stringsAsFactors = FALSE
)
eta <- 0.3 * sin(2 * d$x) + 0.2 * log(d$z) + 0.1 * as.integer(factor(d$g)) / 12 * log(d$z) + log(d$t) - 0.5
d$y <- rpois(n, exp(eta))
write.csv(d, "tests/data/reference/fast_transforms_data.csv", row.names = FALSE)
# new rows inside the training range of x and z (formulaic's bs refuses to extrapolate)
new <- d[seq(1, n, length.out = 30), c("g", "h", "t")]
new$x <- round(seq(quantile(d$x, 0.01), quantile(d$x, 0.99), length.out = 30), 4)
new$z <- round(seq(0.6, 2.9, length.out = 30), 4)
write.csv(new, "tests/data/reference/fast_transforms_newdata.csv", row.names = FALSE)
for (v in c("g", "h")) d[[v]] <- factor(d[[v]])
new$g <- factor(new$g, levels = levels(d$g))
new$h <- factor(new$h, levels = levels(d$h))

# R's formula and glmformula's spelling of it
cases <- list(
  bs_factor = c("y ~ bs(x, df = 5) + g", "y ~ bs(x, df=5) + g"),
  bs_poly_two_factors = c("y ~ bs(x, df = 6) + poly(z, 2) + g + h + offset(log(t))",
                          "y ~ bs(x, df=6) + poly(z, 2) + g + h + offset(log(t))"),
  ns_log = c("y ~ ns(x, df = 3) + log(z) + h", "y ~ ns(x, df=3) + log(z) + h"),
  squared = c("y ~ I(x^2) + x + h + offset(log(t))", "y ~ I(x**2) + x + h + offset(log(t))"),
  factor_by_log = c("y ~ bs(x, df = 4) + g * log(z) + h", "y ~ bs(x, df=4) + g*log(z) + h"),
  factor_by_spline = c("y ~ h + g:bs(x, df = 3)", "y ~ h + g:bs(x, df=3)")
)
out <- list()
for (name in names(cases)) {
  fit <- glm(as.formula(cases[[name]][1]), family = poisson, data = d,
             control = glm.control(epsilon = 1e-12, maxit = 50))
  s <- summary(fit)
  co <- coef(fit)
  se <- rep(NA_real_, length(co)); names(se) <- names(co)
  se[rownames(s$coefficients)] <- s$coefficients[, "Std. Error"]
  out[[name]] <- list(r_formula = cases[[name]][1], formula = cases[[name]][2], coefficients = unname(co),
                      names = names(co), se = unname(se), aliased = unname(is.na(co)),
                      deviance = deviance(fit), null_deviance = fit$null.deviance,
                      predict_link = unname(predict(fit, newdata = new, type = "link")))
}
# the knots learned from the full data
out$knots <- list(
  bs_x_df5 = list(knots = unname(attr(bs(d$x, df = 5), "knots")),
                  boundary = unname(attr(bs(d$x, df = 5), "Boundary.knots"))),
  ns_x_df3 = list(knots = unname(attr(ns(d$x, df = 3), "knots")),
                  boundary = unname(attr(ns(d$x, df = 3), "Boundary.knots")))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/data/reference/fast_transforms.json")
