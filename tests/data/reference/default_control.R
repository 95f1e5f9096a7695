# R 4.2.2 fits with the *default* glm.control(epsilon = 1e-8, maxit = 25), so that
# iteration counts and the not-fully-converged standard errors are checked too.
# Run from the project root:  Rscript tests/data/reference/default_control.R > tests/data/reference/_default_control.json
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
cases <- list(
  budworm_prop_weights_probit = list(fit = quote(glm(prop ~ sex + ldose, binomial(link = "probit"), load_data("budworm"), weights = total)),
                                     formula = "prop ~ sex + ldose", family = "binomial(link='probit')", dataset = "budworm", weights = "total"),
  clotting_invgauss = list(fit = quote(glm(lot1 ~ log(u), inverse.gaussian, load_data("clotting"))),
                           formula = "lot1 ~ log(u)", family = "inverse_gaussian", dataset = "clotting", weights = NA),
  mtcars_gaussian_log = list(fit = quote(glm(mpg ~ wt + hp, gaussian(link = "log"), load_data("mtcars"))),
                             formula = "mpg ~ wt + hp", family = "gaussian(link='log')", dataset = "mtcars", weights = NA),
  warpbreaks_poisson_interaction = list(fit = quote(glm(breaks ~ wool * tension, poisson, load_data("warpbreaks"))),
                                        formula = "breaks ~ wool * tension", family = "poisson", dataset = "warpbreaks", weights = NA)
)
num <- function(x) paste(sprintf("%.17g", x), collapse = ", ")
out <- c()
for (name in names(cases)) {
  case <- cases[[name]]
  fit <- eval(case$fit)
  s <- summary(fit)
  out <- c(out, sprintf('  "%s": {"formula": "%s", "family": "%s", "dataset": "%s", "weights": %s, "iter": %d, "coef": [%s], "se": [%s], "deviance": %.17g, "dispersion": %.17g}',
    name, case$formula, case$family, case$dataset, if (is.na(case$weights)) "null" else sprintf('"%s"', case$weights),
    fit$iter, num(coef(fit)), num(s$coefficients[, 2]), fit$deviance, s$dispersion))
}
cat("{\n", paste(out, collapse = ",\n"), "\n}\n", sep = "")
