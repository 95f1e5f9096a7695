# pscl 1.5.5 (zeroinfl, hurdle, vuong) on the biochemists data with R 4.2.2.
# Fits use reltol = 1e-14 so that optim reaches the optimum (its default stops ~1e-3 away on
# the small coefficients of the negative binomial models).
# Run from the project root:  Rscript tests/data/reference/count_models.R > tests/data/reference/_count_models.json
library(pscl); library(jsonlite)
b <- read.csv("glmformula/datasets/data/biochemists.csv", stringsAsFactors=TRUE)
out <- list()
fit <- function(f) list(coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f)))), loglik = as.numeric(logLik(f)),
                        theta = if (is.null(f$theta)) NA else unname(f$theta), se_logtheta = if (is.null(f$SE.logtheta)) NA else unname(f$SE.logtheta),
                        fitted = unname(head(fitted(f), 5)), zero = unname(head(predict(f, type = "zero"), 5)),
                        prob = unname(predict(f, type = "prob")[1:3, 1:4]))
ctl <- zeroinfl.control(reltol = 1e-14); hctl <- hurdle.control(reltol = 1e-14)
out$zinb <- fit(zeroinfl(art ~ fem + mar + kid5 + phd + ment | ment, data = b, dist = "negbin", control = ctl))
out$zip_full <- fit(zeroinfl(art ~ fem + mar + kid5 + phd + ment, data = b, dist = "poisson", control = ctl))
out$zigeom <- fit(zeroinfl(art ~ fem + kid5 + ment | ment, data = b, dist = "geometric", control = ctl))
out$hurdle_p <- fit(hurdle(art ~ fem + mar + kid5 + phd + ment | fem + ment, data = b, dist = "poisson", control = hctl))
out$hurdle_nb <- fit(hurdle(art ~ fem + mar + kid5 + phd + ment, data = b, dist = "negbin", control = hctl))
zip <- zeroinfl(art ~ fem + mar + kid5 + phd + ment | 1, data = b)
pois <- glm(art ~ fem + mar + kid5 + phd + ment, poisson, b)

# per-observation log-likelihoods as pscl::vuong computes them
p1 <- predict(zip, type = "prob", at = 0:max(b$art)); p2 <- predict(pois, type = "response")
l1 <- log(p1[cbind(seq_along(b$art), b$art + 1)]); l2 <- dpois(b$art, p2, log = TRUE)
mm <- l1 - l2
out$vuong_zip_pois <- list(raw = sqrt(length(mm)) * mean(mm) / sd(mm))
cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "\n")
# AER::dispersiontest on the Poisson fit (printed separately; recorded in test_count_models.py):
# suppressMessages(library(AER)); d <- dispersiontest(pois); dispersiontest(pois, trafo = 2)
# dispersiontest(pois, trafo = 1, alternative = "two.sided")
