# References for the design blocks (categorical x numeric, categorical x categorical, nested factors,
# empty cells, two large factors): R 4.2's glm on data this script generates.
# Run from the project root: Rscript tests/data/reference/blocks.R
# Writes tests/data/reference/blocks_data.csv and tests/data/reference/blocks.json.
library(jsonlite)
set.seed(20261206)
n <- 3000
d <- data.frame(
  x = round(rnorm(n), 4),
  z = round(rnorm(n), 4),
  a = sample(c("p", "q", "r", "s"), n, replace = TRUE),
  b = sample(c("u", "v", "w"), n, replace = TRUE),
  g = sample(sprintf("g%02d", 1:20), n, replace = TRUE),
  h = sample(sprintf("h%03d", 1:150), n, replace = TRUE),
  k = sample(sprintf("k%03d", 1:100), n, replace = TRUE),
  t = round(runif(n, 1, 2), 4),
  stringsAsFactors = FALSE
)
d$a[d$a == "s" & d$b == "w"] <- "r"  # an empty cell of a x b
eta <- 0.3 * d$x + 0.2 * (d$a == "q") - 0.1 * (d$b == "v") + 0.05 * d$z + log(d$t) +
  0.1 * as.integer(factor(d$g)) / 20 * d$x
d$y <- rpois(n, exp(eta))
write.csv(d, "tests/data/reference/blocks_data.csv", row.names = FALSE)
for (v in c("a", "b", "g", "h", "k")) d[[v]] <- factor(d[[v]])

cases <- list(
  slope_per_group = "y ~ x + g:x",
  crossed_numeric = "y ~ x * g",
  crossed_factors = "y ~ a * b",
  cells_only = "y ~ a:b",
  nested = "y ~ a / b",
  nested_numeric = "y ~ g / x",
  three_way = "y ~ a * b * x",
  numeric_product = "y ~ x:z + a",
  mixed = "y ~ x + a:b + g + offset(log(t))",
  two_large_factors = "y ~ x + h + k + offset(log(t))",
  nested_large = "y ~ x + k / b + offset(log(t))"  # 200 cells of b within k: nested blocks
)
out <- list()
for (name in names(cases)) {
  fit <- glm(as.formula(cases[[name]]), family = poisson, data = d)
  s <- summary(fit)
  co <- coef(fit)
  se <- rep(NA_real_, length(co)); names(se) <- names(co)
  se[rownames(s$coefficients)] <- s$coefficients[, "Std. Error"]
  out[[name]] <- list(formula = cases[[name]], coefficients = unname(co), names = names(co),
                      se = unname(se), aliased = unname(is.na(co)), deviance = deviance(fit),
                      null_deviance = fit$null.deviance, fitted_head = unname(fitted(fit)[1:20]))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/data/reference/blocks.json")
