# The workflow verbs against R 4.2.2 (Debian r-base-core), MASS 7.3 and sandwich 3.0:
# update, stepAIC, predict(type = "terms"), confint (profile and Wald), vcovCL (HC0, HC1, multiway).
# Run from the project root:  Rscript tests/data/reference/verbs.R > tests/data/reference/verbs.json
suppressPackageStartupMessages({library(MASS); library(sandwich); library(jsonlite)})
data_dir <- "glmformula/datasets/data"
load_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
tab <- function(a) { a <- as.data.frame(a); list(rows = rownames(a), columns = as.list(a)) }
fit_summary <- function(m) list(coef = unname(coef(m)), names = names(coef(m)), deviance = deviance(m),
                                aic = AIC(m), df_residual = df.residual(m))
term_labels <- function(m) attr(terms(m), "term.labels")
step_result <- function(s) {
  path <- s$anova
  list(step = as.character(path$Step), df = path$Df, deviance = path$Deviance, resid_df = path[["Resid. Df"]],
       resid_dev = path[["Resid. Dev"]], aic = path$AIC, terms = term_labels(s), final_aic = AIC(s),
       final_deviance = deviance(s))
}
vcov_named <- function(v) list(names = rownames(v), matrix = unname(v))
out <- list()

# -- update -------------------------------------------------------------------------------------
mt <- mtcars
g <- glm(mpg ~ wt + hp + qsec, gaussian, mt)
out$update_drop <- fit_summary(update(g, ~ . - hp))
out$update_add <- fit_summary(update(g, . ~ . + am))
out$update_response <- fit_summary(update(g, log(.) ~ .))
out$update_data <- fit_summary(update(g, data = mt[mt$cyl != 6, ]))
out$update_family <- fit_summary(update(g, family = Gamma(link = "log")))
ins <- load_data("insurance")
pois <- glm(Claims ~ factor(District) + Group + Age + offset(log(Holders)), poisson, ins)
out$update_offset <- fit_summary(update(pois, ~ . - Age))

# -- stepAIC ------------------------------------------------------------------------------------
nb <- glm.nb(Days ~ Eth * Sex * Age * Lrn, quine)
out$step_quine_nb <- step_result(stepAIC(nb, trace = 0))
g0 <- glm(mpg ~ 1, gaussian, mt)
out$step_mtcars_forward <- step_result(stepAIC(g0, scope = ~ wt + hp + qsec + am + disp + drat,
                                               direction = "forward", trace = 0))
g1 <- glm(mpg ~ wt + hp + qsec + am + disp + drat, gaussian, mt)
out$step_mtcars_both <- step_result(stepAIC(g1, scope = list(upper = ~ (wt + hp + qsec + am)^2 + disp + drat,
                                                                 lower = ~ wt),
                                            direction = "both", trace = 0))
p2 <- glm(Days ~ (Eth + Sex + Age + Lrn)^2, poisson, quine)
out$step_quine_bic <- step_result(stepAIC(p2, k = log(nrow(quine)), trace = 0))
es <- esoph
b0 <- glm(cbind(ncases, ncontrols) ~ agegp, binomial, es)
out$step_esoph_both <- step_result(stepAIC(b0, scope = ~ agegp + alcgp * tobgp, direction = "both", trace = 0))

# -- predict(type = "terms") ----------------------------------------------------------------------
gt <- glm(mpg ~ wt * am + factor(cyl) + poly(hp, 2), gaussian, mt)
new <- data.frame(wt = c(2.5, 3.5, 3), am = c(0, 1, 1), cyl = c(4, 8, 6), hp = c(100, 200, 150))
pt <- predict(gt, type = "terms", se.fit = TRUE)
pn <- predict(gt, newdata = new, type = "terms", se.fit = TRUE)
out$terms_mtcars <- list(labels = colnames(pt$fit), fit = unname(pt$fit), se = unname(pt$se.fit),
                         constant = attr(pt$fit, "constant"), new_fit = unname(pn$fit), new_se = unname(pn$se.fit))
pi <- predict(pois, type = "terms")
out$terms_insurance <- list(labels = colnames(pi), fit = unname(pi), constant = attr(pi, "constant"))
g00 <- glm(mpg ~ 0 + wt + hp, gaussian, mt)
p00 <- predict(g00, type = "terms")
out$terms_no_intercept <- list(labels = colnames(p00), fit = unname(p00), constant = attr(p00, "constant"))

# -- confint: profile by default (a fine grid, so MASS's spline is exact to ~1e-7), and Wald ------
lg <- glm(am ~ wt + hp, binomial, mt)
out$confint_logit <- tab(confint(profile(lg, del = 0.02, maxsteps = 400)))
out$confint_logit_90 <- tab(confint(profile(lg, del = 0.02, maxsteps = 400), level = 0.9))
out$confint_logit_wald <- tab(confint.default(lg))
cl <- load_data("clotting")
gm <- glm(lot1 ~ log(u), Gamma, cl)
out$confint_gamma <- tab(confint(profile(gm, del = 0.02, maxsteps = 400)))

# -- vcovCL ---------------------------------------------------------------------------------------
ep <- load_data("epil")
e <- glm(y ~ lbase * trt + lage + V4, poisson, ep)
out$vcovCL_subject_HC0 <- vcov_named(vcovCL(e, cluster = ~ subject))
out$vcovCL_subject_HC1 <- vcov_named(vcovCL(e, cluster = ~ subject, type = "HC1"))
out$vcovCL_twoway_HC0 <- vcov_named(vcovCL(e, cluster = ~ subject + period))
out$vcovCL_twoway_HC1 <- vcov_named(vcovCL(e, cluster = ~ subject + period, type = "HC1"))
out$vcovCL_rows <- vcov_named(vcovCL(e))
gc <- glm(mpg ~ wt + hp, gaussian, mt)
out$vcovCL_mtcars_twoway_HC0 <- vcov_named(vcovCL(gc, cluster = ~ cyl + gear))
out$vcovCL_mtcars_twoway_HC1 <- vcov_named(vcovCL(gc, cluster = ~ cyl + gear, type = "HC1"))
out$vcovCL_mtcars_threeway <- vcov_named(vcovCL(gc, cluster = ~ cyl + gear + am))

cat(toJSON(out, digits = NA, auto_unbox = TRUE, na = "string"))
