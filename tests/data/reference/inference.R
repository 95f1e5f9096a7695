# Inference references computed here with R 4.2.2 (Debian r-base-core), MASS 7.3, sandwich 3.0.
# Run from the project root:  Rscript tests/data/reference/inference.R > tests/data/reference/_inference.json
suppressPackageStartupMessages({library(MASS); library(sandwich); library(jsonlite)})
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
tab <- function(a) { a <- as.data.frame(a); list(rows = rownames(a), columns = as.list(a)) }
out <- list()

ins <- load_data("insurance")
qp <- glm(Claims ~ factor(District) + Group + Age + offset(log(Holders)), quasipoisson, ins)
pois <- glm(Claims ~ factor(District) + Group + Age + offset(log(Holders)), poisson, ins)
out$quasi_anova_F <- tab(anova(qp, test = "F"))
out$poisson_anova_Rao <- tab(anova(pois, test = "Rao"))
out$poisson_drop1_Chisq <- tab(drop1(pois, test = "Chisq"))
out$quasi_drop1_F <- tab(drop1(qp, test = "F"))
out$poisson_drop1_Rao <- tab(drop1(pois, test = "Rao"))

wb <- load_data("warpbreaks")
m0 <- glm(breaks ~ wool, poisson, wb); m1 <- glm(breaks ~ wool + tension, poisson, wb)
m2 <- glm(breaks ~ wool * tension, poisson, wb)
out$models_Chisq <- tab(anova(m0, m1, m2, test = "Chisq"))
out$models_Rao <- tab(anova(m0, m1, m2, test = "Rao"))
q0 <- glm(breaks ~ wool, quasipoisson, wb); q2 <- glm(breaks ~ wool * tension, quasipoisson, wb)
out$models_quasi_F <- tab(anova(q0, q2, test = "F"))

mt <- load_data("mtcars")
g <- glm(mpg ~ wt + hp + qsec, gaussian, mt)
out$gaussian_drop1_F <- tab(drop1(g, test = "F"))
out$gaussian_drop1_Chisq <- tab(drop1(g, test = "Chisq"))
g1 <- glm(mpg ~ wt, gaussian, mt)
out$gaussian_add1_F <- tab(add1(g1, ~ . + hp + qsec, test = "F"))
bw <- load_data("budworm")
b1 <- glm(cbind(numdead, numalive) ~ ldose, binomial, bw)
out$binomial_add1_Chisq <- tab(add1(b1, ~ . + sex, test = "Chisq"))
out$binomial_add1_Rao <- tab(add1(b1, ~ . + sex, test = "Rao"))

ep <- load_data("epil")
e <- glm(y ~ lbase * trt + lage + V4, poisson, ep)
out$epil_cluster_se <- unname(sqrt(diag(vcovCL(e, cluster = ~ subject))))
out$epil_HC2_se <- unname(sqrt(diag(vcovHC(e, type = "HC2"))))
out$epil_coef_names <- names(coef(e))

b2 <- glm(cbind(numdead, numalive) ~ sex + ldose, binomial, bw)
# a fine profile grid so that MASS's spline interpolation is exact to ~1e-7
pr <- profile(b2, del = 0.02, maxsteps = 400)
out$budworm_profile_ci <- tab(confint(pr))
cl <- load_data("clotting")
gm <- glm(lot1 ~ log(u), Gamma, cl)
out$clotting_profile_ci <- tab(confint(profile(gm, del = 0.02, maxsteps = 400)))
out$clotting_influence <- list(hat = unname(hatvalues(gm)), cooks = unname(cooks.distance(gm)),
                               rstandard = unname(rstandard(gm)), rstudent = unname(rstudent(gm)),
                               dfbetas = unname(dfbetas(gm)))
p <- predict(gm, newdata = data.frame(u = c(7, 30, 120)), type = "response", se.fit = TRUE)
out$clotting_predict <- list(fit = unname(p$fit), se = unname(p$se.fit))

dob <- load_data("dobson")
d <- glm(counts ~ outcome + treatment, poisson, dob)
out$dobson_dfbetas <- unname(dfbetas(d))
out$dobson_partial <- unname(residuals(d, type = "partial"))
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "\n")
