# References for glmformula's bs() (formula/splines.py): R 4.2's splines::bs basis for df, explicit knots,
# degree 1/2/3, intercept TRUE/FALSE, Boundary.knots wider and narrower than the data (values beyond them
# extrapolated as R's bs does), predict(bs_object, newx) on new values (the fitted knots replayed, new values
# beyond the boundary knots extrapolated), and ns()/bs() with a too small df (R's warning and the basis used).
# Run from the project root: Rscript tests/data/reference/bs_basis.R
# Writes tests/data/reference/bs_basis.json.
library(jsonlite)
library(splines)
set.seed(20261207)
x <- c(round(rnorm(60, 2, 1.5), 3), -1.25, 0, 0, 2.5, 2.5, 2.5, 7)  # ties and the extremes
newx <- c(-3, -1.25, -0.5, 0, 1.111, 2.5, 4.75, 7, 8.5, 12)
cases <- list(
  df5 = list(args = list(df = 5)),
  df8 = list(args = list(df = 8)),
  df3_degree3 = list(args = list(df = 3)),
  df6_intercept = list(args = list(df = 6, intercept = TRUE)),
  df4_degree1 = list(args = list(df = 4, degree = 1)),
  df5_degree2 = list(args = list(df = 5, degree = 2)),
  df4_degree2_intercept = list(args = list(df = 4, degree = 2, intercept = TRUE)),
  knots = list(args = list(knots = c(0.5, 1.5, 3))),
  knots_degree1_intercept = list(args = list(knots = c(1, 2), degree = 1, intercept = TRUE)),
  knots_degree2 = list(args = list(knots = c(0, 2.5), degree = 2)),
  no_knots = list(args = list()),
  boundary_wider = list(args = list(df = 6, Boundary.knots = c(-3, 10))),
  boundary_narrower = list(args = list(df = 6, Boundary.knots = c(0, 4))),
  boundary_narrower_degree2_intercept = list(args = list(df = 5, degree = 2, intercept = TRUE,
                                                         Boundary.knots = c(-0.5, 3.5))),
  boundary_narrower_knots = list(args = list(knots = c(1, 2), Boundary.knots = c(0.5, 3))),
  boundary_narrower_degree1 = list(args = list(df = 4, degree = 1, Boundary.knots = c(0, 4)))
)
out <- list(x = x, newx = newx, cases = list())
for (name in names(cases)) {
  basis <- suppressWarnings(do.call(bs, c(list(x), cases[[name]]$args)))
  args <- cases[[name]]$args
  out$cases[[name]] <- list(
    df = if (is.null(args$df)) NULL else args$df,
    knots = if (is.null(args$knots)) NULL else args$knots,
    degree = if (is.null(args$degree)) 3 else args$degree,
    intercept = if (is.null(args$intercept)) FALSE else args$intercept,
    boundary_knots = if (is.null(args$Boundary.knots)) NULL else args$Boundary.knots,
    fitted_knots = unname(attr(basis, "knots")),
    fitted_boundary = unname(attr(basis, "Boundary.knots")),
    basis = unname(unclass(basis)[, , drop = FALSE]),
    predict = unname(unclass(suppressWarnings(predict(basis, newx)))[, , drop = FALSE])
  )
}
# a too small df: R warns and uses degree + intercept (bs) or 1 + intercept (ns) columns
small <- list()
for (df in c(0, 1, 2)) {
  for (intercept in c(FALSE, TRUE)) {
    warned <- NULL
    b <- withCallingHandlers(bs(x, df = df, intercept = intercept),
                             warning = function(w) { warned <<- conditionMessage(w); invokeRestart("muffleWarning") })
    wn <- NULL
    nb <- withCallingHandlers(ns(x, df = df, intercept = intercept),
                              warning = function(w) { wn <<- conditionMessage(w); invokeRestart("muffleWarning") })
    small[[sprintf("df%d_intercept%d", df, intercept)]] <- list(
      df = df, intercept = intercept, bs_warning = if (is.null(warned)) "" else warned,
      bs_basis = unname(unclass(b)[, , drop = FALSE]), ns_warning = if (is.null(wn)) "" else wn,
      ns_basis = unname(unclass(nb)[, , drop = FALSE]))
  }
}
out$small_df <- small
# R's spellings in a formula (TRUE/FALSE, Boundary.knots = c(...), c() for knots): the model matrix and the
# coefficients of a Poisson glm on x and a response drawn here (after every draw above, so those stay put)
y <- rpois(length(x), exp(0.3 + 0.2 * x))
formulas <- list(
  bs_boundary = "y ~ bs(x, df = 5, Boundary.knots = c(-3, 10))",
  bs_boundary_narrower = "y ~ bs(x, df = 4, Boundary.knots = c(0, 4), intercept = FALSE)",
  bs_knots_vector = "y ~ bs(x, knots = c(0.5, 1.5, 3), degree = 2)",
  ns_intercept = "y ~ ns(x, df = 3, intercept = TRUE) - 1",
  ns_boundary = "y ~ ns(x, df = 3, Boundary.knots = c(-2, 8))",
  poly_raw = "y ~ poly(x, 2, raw = TRUE)"
)
out$formula_data <- list(x = x, y = y)
out$formulas <- list()
for (name in names(formulas)) {
  fit <- glm(as.formula(formulas[[name]]), family = poisson, data = data.frame(x = x, y = y))
  out$formulas[[name]] <- list(formula = formulas[[name]], model_matrix = unname(model.matrix(fit)),
                               coefficients = unname(coef(fit)), deviance = deviance(fit))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", matrix = "rowmajor"),
           "tests/data/reference/bs_basis.json")
