# References for the negative binomial with theta estimated on the categorical-aware design: MASS::glm.nb
# (R 4.2) on data this script generates, with a 300-level factor beside numeric columns and an offset.
# Run from the project root: Rscript tests/data/reference/negbin_blocks.R
# Writes tests/data/reference/negbin_blocks_data.csv and tests/data/reference/negbin_blocks.json.
library(MASS)
library(jsonlite)
set.seed(20261207)
n <- 20000
d <- data.frame(
  x1 = round(rnorm(n), 4),
  x2 = round(runif(n, -1, 1), 4),
  f = sample(c("a", "b", "c", "d", "e"), n, replace = TRUE),
  g = sample(sprintf("g%03d", 1:300), n, replace = TRUE),
  t = round(runif(n, 0.5, 2), 4),
  stringsAsFactors = FALSE
)
level_effect <- rnorm(300, sd = 0.3)
eta <- 0.4 + 0.2 * d$x1 - 0.3 * d$x2 + 0.1 * (d$f == "b") - 0.2 * (d$f == "e") +
  level_effect[as.integer(factor(d$g))] + log(d$t)
d$y <- rnbinom(n, size = 1.5, mu = exp(eta))
write.csv(d, "tests/data/reference/negbin_blocks_data.csv", row.names = FALSE)
d$f <- factor(d$f)
d$g <- factor(d$g)

formula <- y ~ x1 + x2 + f + g + offset(log(t))
summarise <- function(fit) {
  s <- summary(fit)
  list(theta = fit$theta, theta_se = fit$SE.theta, coefficients = unname(coef(fit)), names = names(coef(fit)),
       se = unname(s$coefficients[, "Std. Error"]), deviance = deviance(fit), null_deviance = fit$null.deviance,
       twologlik = fit$twologlik, aic = AIC(fit), iter = fit$iter, df_residual = fit$df.residual,
       fitted_head = unname(fitted(fit)[1:20]))
}
out <- list(
  formula = "y ~ x1 + x2 + f + g + offset(log(t))",
  tight = summarise(glm.nb(formula, data = d, control = glm.control(epsilon = 1e-12, maxit = 50))),
  default = summarise(glm.nb(formula, data = d))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/data/reference/negbin_blocks.json")
