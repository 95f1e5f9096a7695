# References for predict(type = "terms") on block designs: R 4.2's predict(glm, type = "terms",
# se.fit = TRUE), on the fitted rows and on new rows, for formulas whose design glmformula keeps in
# blocks (a large factor's main effect, g:x, a:b crossed with an empty cell, a spline beside factors).
# The data are those of blocks.R (tests/data/reference/blocks_data.csv); the new rows as in
# prediction_blocks.R.
# Run from the project root: Rscript tests/data/reference/prediction_terms_blocks.R
# Writes tests/data/reference/prediction_terms_blocks.json.
library(jsonlite)
library(splines)
d <- read.csv("tests/data/reference/blocks_data.csv", stringsAsFactors = FALSE)
for (v in c("a", "b", "g", "h", "k")) d[[v]] <- factor(d[[v]])
rows <- seq(1, nrow(d), by = 75)  # 40 rows spread over the data
newdata <- d[rows, ]
newdata$t <- newdata$t * 1.5
newdata$x <- newdata$x + 0.25
head_rows <- 1:100  # the fitted rows written out (the centring is over all 3,000)

cases <- list(
  factor_main_effect = "y ~ x + h",
  slope_per_group = "y ~ x + g:x",
  crossed_factors = "y ~ a * b + x",
  spline_beside_factors = "y ~ ns(x, df = 3) + h + k + z + offset(log(t))",
  crossed_numeric = "y ~ x * g + h",
  no_intercept = "y ~ 0 + h + x"
)
as_matrix <- function(m) unname(as.matrix(m))
out <- list(rows = rows - 1)  # 0-based, for pandas' iloc
for (name in names(cases)) {
  fit <- glm(as.formula(cases[[name]]), family = poisson, data = d)
  fitted_terms <- predict(fit, type = "terms", se.fit = TRUE)
  new_terms <- predict(fit, newdata = newdata, type = "terms", se.fit = TRUE)
  constant <- attr(fitted_terms$fit, "constant")
  out[[name]] <- list(
    formula = cases[[name]], labels = colnames(fitted_terms$fit),
    constant = if (is.null(constant)) 0 else constant,
    fitted_fit = as_matrix(fitted_terms$fit[head_rows, , drop = FALSE]),
    fitted_se = as_matrix(fitted_terms$se.fit[head_rows, , drop = FALSE]),
    new_fit = as_matrix(new_terms$fit), new_se = as_matrix(new_terms$se.fit),
    fitted_fit_sums = unname(colSums(fitted_terms$fit)),
    fitted_se_sums = unname(colSums(fitted_terms$se.fit))
  )
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"),
           "tests/data/reference/prediction_terms_blocks.json")
