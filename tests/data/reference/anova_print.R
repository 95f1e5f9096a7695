# R's printed analysis-of-deviance tables, for tests/test_summary_r.py: glmformula's anova, drop1
# and add1 tables must print the same text.  Run from the project root with R 4.2:
# Rscript tests/data/reference/anova_print.R.  Each print goes to anova_<name>.txt, byte for byte.
options(useFancyQuotes = FALSE, width = 80, digits = 7)
data_dir <- "glmformula/datasets/data"
out_dir <- "tests/data/reference"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")))
quine <- load_data("quine")
clotting <- load_data("clotting")
birthwt <- load_data("birthwt")
budworm <- load_data("budworm")

quine_full <- glm(Days ~ Eth + Sex + Age, family = poisson, data = quine)
quine_small <- glm(Days ~ Eth, family = poisson, data = quine)
clotting_gamma <- glm(lot1 ~ log(u), family = Gamma, data = clotting)
birthwt_logit <- glm(low ~ age + lwt + factor(race) + smoke, family = binomial, data = birthwt)
budworm_cbind <- glm(cbind(numdead, numalive) ~ sex * ldose, family = binomial, data = budworm)

tables <- list(
  quine_sequential_chisq = anova(quine_full, test = "Chisq"),
  quine_compare_chisq = anova(quine_small, quine_full, test = "Chisq"),
  quine_drop1_chisq = drop1(quine_full, test = "Chisq"),
  quine_add1_f = suppressWarnings(add1(quine_full, ~ . + Lrn, test = "F")),
  clotting_sequential_f = anova(clotting_gamma, test = "F"),
  clotting_drop1_none = drop1(clotting_gamma),
  birthwt_sequential_none = anova(birthwt_logit),
  birthwt_drop1_lrt = drop1(birthwt_logit, test = "LRT"),
  budworm_sequential_rao = anova(budworm_cbind, test = "Rao")
)
for (name in names(tables)) {
  sink(file.path(out_dir, paste0("anova_", name, ".txt")))
  print(tables[[name]])
  sink()
}
