# References for prediction from block designs: R 4.2's predict(glm, newdata, se.fit = TRUE) on the
# data of blocks.R (tests/data/reference/blocks_data.csv), for formulas whose design glmformula keeps in
# blocks (large factors as codes, g:x, crossed and nested factors).
# Run from the project root: Rscript tests/data/reference/prediction_blocks.R
# Writes tests/data/reference/prediction_blocks.json.
library(jsonlite)
d <- read.csv("tests/data/reference/blocks_data.csv", stringsAsFactors = FALSE)
for (v in c("a", "b", "g", "h", "k")) d[[v]] <- factor(d[[v]])
rows <- seq(1, nrow(d), by = 75)  # 40 rows spread over the data
newdata <- d[rows, ]
newdata$t <- newdata$t * 1.5  # another exposure than in fitting
newdata$x <- newdata$x + 0.25

cases <- list(
  slope_per_group = "y ~ x + g:x",
  crossed_numeric = "y ~ x * g + h",
  crossed_factors = "y ~ a * b + x",
  nested_numeric = "y ~ g / x",
  two_large_factors = "y ~ x + h + k + offset(log(t))",
  large_by_numeric = "y ~ x + z + k + g:z + offset(log(t))"
)
out <- list(rows = rows - 1)  # 0-based, for pandas' iloc
for (name in names(cases)) {
  fit <- glm(as.formula(cases[[name]]), family = poisson, data = d)
  link <- predict(fit, newdata = newdata, type = "link", se.fit = TRUE)
  response <- predict(fit, newdata = newdata, type = "response", se.fit = TRUE)
  fitted_link <- predict(fit, type = "link", se.fit = TRUE)
  out[[name]] <- list(formula = cases[[name]], link = unname(link$fit), link_se = unname(link$se.fit),
                      response = unname(response$fit), response_se = unname(response$se.fit),
                      fitted_link_se_head = unname(fitted_link$se.fit[1:50]))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/data/reference/prediction_blocks.json")
