# Refit the core reference cases with R and print what the JSON files record.
# The shared reference figures were produced with glm.control(epsilon = 1e-12):
# with R's default epsilon = 1e-8 several fits stop one or two iterations
# earlier (e.g. budworm probit: 4 iterations instead of 6), and their standard
# errors differ in the 6th digit.  Run from the project root:
#   Rscript tests/data/reference/refit_core_cases.R
library(MASS)
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
ctl <- glm.control(epsilon = 1e-12)
cases <- list(
  budworm_cbind_logit = quote(glm(cbind(numdead, numalive) ~ sex * ldose, binomial, load_data("budworm"), control = ctl)),
  budworm_prop_weights_probit = quote(glm(prop ~ sex + ldose, binomial(link = "probit"), load_data("budworm"), weights = total, control = ctl)),
  clotting_gamma_inverse = quote(glm(lot1 ~ log(u), Gamma, load_data("clotting"), control = ctl)),
  clotting_invgauss = quote(glm(lot1 ~ log(u), inverse.gaussian, load_data("clotting"), control = ctl)),
  dobson_poisson = quote(glm(counts ~ outcome + treatment, poisson, load_data("dobson"), control = ctl)),
  esoph_binomial = quote(glm(cbind(ncases, ncontrols) ~ agegp + tobgp * alcgp, binomial, load_data("esoph"), control = ctl)),
  insurance_poisson_offset = quote(glm(Claims ~ factor(District) + Group + Age + offset(log(Holders)), poisson, load_data("insurance"), control = ctl)),
  insurance_quasipoisson = quote(glm(Claims ~ factor(District) + Group + Age + offset(log(Holders)), quasipoisson, load_data("insurance"), control = ctl)),
  mtcars_gaussian_log = quote(glm(mpg ~ wt + hp, gaussian(link = "log"), load_data("mtcars"), control = ctl)),
  mtcars_logit = quote(glm(am ~ hp + wt, binomial, load_data("mtcars"), control = ctl)),
  mtcars_rank_deficient = quote(glm(mpg ~ hp + wt + hpwt, Gamma(link = "log"), load_data("mtcars"), control = ctl)),
  quine_nb_fixed_theta = quote(glm(Days ~ Eth + Sex + Age + Lrn, negative.binomial(2), load_data("quine"), control = ctl)),
  warpbreaks_poisson_interaction = quote(glm(breaks ~ wool * tension, poisson, load_data("warpbreaks"), control = ctl)),
  warpbreaks_weighted = quote(glm(breaks ~ wool + tension, poisson, load_data("warpbreaks"), weights = w, control = ctl))
)
for (name in names(cases)) {
  fit <- eval(cases[[name]])
  disp <- if (fit$family$family %in% c("poisson", "binomial") || grepl("Negative Binomial", fit$family$family)) 1 else NULL
  s <- summary(fit, dispersion = disp)
  cat(sprintf("%-32s iter %2d  deviance %.15g  aic %.15g  first se %.15g  dispersion %.15g\n",
              name, fit$iter, fit$deviance, fit$aic, s$coefficients[1, 2], s$dispersion))
}
