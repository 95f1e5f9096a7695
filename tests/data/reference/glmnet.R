# glmnet 4.1-6 (R 4.2.2, Debian r-cran-glmnet) at fixed lambdas, converged tightly (thresh = 1e-14).
# Run from the project root:  Rscript tests/data/reference/glmnet.R > tests/data/reference/_glmnet.json
suppressPackageStartupMessages({library(glmnet); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))  # factor levels in byte order, as the CSVs were written
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
mt <- load_data("mtcars")
ins <- load_data("insurance")
xg <- as.matrix(mt[, c("wt", "hp", "qsec", "drat")])
xb <- as.matrix(mt[, c("wt", "hp", "qsec")])
xi <- model.matrix(~ factor(District) + Group + Age, ins)[, -1]
fit <- function(x, y, family, lambda, alpha, offset = NULL) {
  f <- glmnet(x, y, family = family, lambda = lambda, alpha = alpha, offset = offset, thresh = 1e-14, maxit = 1e7)
  as.numeric(as.matrix(coef(f)))
}
out <- list(
  gaussian_lasso = list(formula = "mpg ~ wt + hp + qsec + drat", dataset = "mtcars", family = "gaussian",
                        penalty = "l1", alpha = 0.5, l1_ratio = 1, coef = fit(xg, mt$mpg, "gaussian", 0.5, 1)),
  gaussian_ridge = list(formula = "mpg ~ wt + hp + qsec + drat", dataset = "mtcars", family = "gaussian",
                        penalty = "l2", alpha = 1, l1_ratio = 0, coef = fit(xg, mt$mpg, "gaussian", 1, 0)),
  gaussian_enet = list(formula = "mpg ~ wt + hp + qsec + drat", dataset = "mtcars", family = "gaussian",
                       penalty = "elasticnet", alpha = 0.3, l1_ratio = 0.5, coef = fit(xg, mt$mpg, "gaussian", 0.3, 0.5)),
  binomial_lasso = list(formula = "am ~ wt + hp + qsec", dataset = "mtcars", family = "binomial",
                        penalty = "l1", alpha = 0.05, l1_ratio = 1, coef = fit(xb, mt$am, "binomial", 0.05, 1)),
  binomial_ridge = list(formula = "am ~ wt + hp + qsec", dataset = "mtcars", family = "binomial",
                        penalty = "l2", alpha = 0.1, l1_ratio = 0, coef = fit(xb, mt$am, "binomial", 0.1, 0)),
  poisson_lasso = list(formula = "Claims ~ C(District) + Group + Age + offset(log(Holders))", dataset = "insurance",
                       family = "poisson", penalty = "l1", alpha = 0.01, l1_ratio = 1,
                       coef = fit(xi, ins$Claims, "poisson", 0.01, 1, log(ins$Holders))),
  poisson_enet = list(formula = "Claims ~ C(District) + Group + Age + offset(log(Holders))", dataset = "insurance",
                      family = "poisson", penalty = "elasticnet", alpha = 0.02, l1_ratio = 0.3,
                      coef = fit(xi, ins$Claims, "poisson", 0.02, 0.3, log(ins$Holders)))
)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "\n")
