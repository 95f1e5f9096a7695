# glmnet 4.1-6 (R 4.2.2, Debian r-cran-glmnet): whole lasso / elastic-net paths on glmnet's own lambda grid,
# converged tightly (thresh = 1e-14).  Run from the project root:
#   Rscript tests/data/reference/glmnet_paths.R > tests/data/reference/_glmnet_paths.json
suppressPackageStartupMessages({library(glmnet); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
path <- function(formula, dataset, family, x, y, alpha, penalty, l1_ratio, offset = NULL) {
  f <- glmnet(x, y, family = family, alpha = alpha, nlambda = 30, offset = offset, thresh = 1e-14, maxit = 1e7)
  list(formula = formula, dataset = dataset, family = family, penalty = penalty, l1_ratio = l1_ratio,
       alphas = f$lambda, coef = unname(as.matrix(coef(f))))  # (coefficients x lambdas)
}
mt <- load_data("mtcars")
ins <- load_data("insurance")
bio <- load_data("biochemists")
xi <- model.matrix(~ factor(District) + Group + Age, ins)[, -1]
xb <- model.matrix(~ fem + mar + kid5 + phd + ment, bio)[, -1]
out <- list(
  binomial_lasso = path("am ~ wt + hp + qsec + drat + mpg", "mtcars", "binomial",
                        as.matrix(mt[, c("wt", "hp", "qsec", "drat", "mpg")]), mt$am, 1, "l1", 1),
  poisson_enet = path("Claims ~ C(District) + Group + Age + offset(log(Holders))", "insurance", "poisson",
                      xi, ins$Claims, 0.5, "elasticnet", 0.5, log(ins$Holders)),
  poisson_lasso = path("art ~ fem + mar + kid5 + phd + ment", "biochemists", "poisson", xb, bio$art, 1, "l1", 1),
  gaussian_lasso = path("mpg ~ wt + hp + qsec + drat + disp + cyl", "mtcars", "gaussian",
                        as.matrix(mt[, c("wt", "hp", "qsec", "drat", "disp", "cyl")]), mt$mpg, 1, "l1", 1)
)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "\n")
