# R's printed summaries, for tests/test_summary_r.py: glmformula's summary(style="r") must print
# the same text.  Run from the project root with R 4.2: Rscript tests/data/reference/summary_print.R
# (MASS for glm.nb).  Each model's print(summary(fit)) goes to summary_<name>.txt, byte for byte.
options(useFancyQuotes = FALSE, width = 80, digits = 7)
library(MASS)
data_dir <- "glmformula/datasets/data"
out_dir <- "tests/data/reference"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")))
birthwt <- load_data("birthwt")
budworm <- load_data("budworm")
mtcars <- load_data("mtcars")
clotting <- load_data("clotting")
quine <- load_data("quine")

fits <- list(
  birthwt_logit = glm(formula = low ~ age + lwt + factor(race) + smoke, family = binomial(link = "logit"),
                      data = birthwt),
  budworm_cbind = glm(formula = cbind(numdead, numalive) ~ sex*ldose, family = binomial(link = "logit"),
                      data = budworm),
  mtcars_quadratic = glm(formula = mpg ~ wt + I(wt^2), family = gaussian(link = "identity"), data = mtcars),
  clotting_gamma = glm(formula = lot1 ~ log(u), family = Gamma(link = "inverse"), data = clotting),
  quine_nb = glm.nb(formula = Days ~ Sex + Age, data = quine)
)
for (name in names(fits)) {
  path <- file.path(out_dir, paste0("summary_", name, ".txt"))
  sink(path)
  print(summary(fits[[name]]))
  sink()
}
