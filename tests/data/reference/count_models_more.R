# pscl 1.5.5 (zeroinfl, hurdle) with R 4.2.2: the cases of issue 19 that count_models.R does not have
# -- a factor in the zero part, an offset in each part, integer and non-integer case weights, and
# links other than the logit -- on simulated data saved as tests/data/count_models_more.csv.
#
# The data are generated here with a fixed seed, written to the CSV (numbers rounded to 6 decimals so
# that R and Python parse the same doubles) and read back, so every fit below uses what Python reads.
# Fits use reltol = 1e-15 so that optim goes as far as it can (its default stops ~1e-4 away).  For each
# fit the script checks, with its own log-likelihood (written below from dpois/dnbinom, independent of
# pscl's code), that pscl's logLik is that likelihood at pscl's estimates and that pscl's estimates are
# at the maximum: the Newton step from them, in units of each parameter's standard error, is recorded
# as `newton_step_in_se`; it is 1e-8 to 4e-6 and must be below 1e-5.  optim cannot do better: within
# ~1e-6 standard errors of the maximum the log-likelihood (~5000) changes by less than its rounding
# (the change is step^2 / 2 ~ 5e-13), so pscl's estimates are known to ~1e-6 standard errors.
# Standard errors are pscl's: the inverse of optim's Hessian, central differences of the analytic
# score with a step of 1e-3 (optimhess's ndeps); glmformula's hessian_step=1e-3 computes the same.
#
# Run from the project root:  Rscript tests/data/reference/count_models_more.R
suppressPackageStartupMessages({library(pscl); library(jsonlite)})
stopifnot(packageVersion("pscl") == "1.5.5")

# -- the data ---------------------------------------------------------------------------------------
set.seed(20261207)
n <- 2000
x1 <- round(rnorm(n), 6)
x2 <- round(runif(n, -1, 1), 6)
f <- sample(c("a", "b", "c"), n, replace = TRUE)  # a factor of the count part
g <- sample(sprintf("g%02d", 1:12), n, replace = TRUE)  # a 12-level factor of the zero part
t <- round(runif(n, 0.5, 3), 6)  # exposure of the count part:  offset(log(t))
s <- round(runif(n, 0.5, 2), 6)  # exposure of the zero part:   offset(log(s))
mu <- t * exp(1 + 0.5 * x1 - 0.3 * x2 + c(a = 0, b = 0.3, c = -0.4)[f])
g_effect <- setNames(rnorm(12, sd = 0.4), sprintf("g%02d", 1:12))
p_zero <- plogis(-0.5 + 0.5 * x2 + g_effect[g] + log(s))
y <- ifelse(runif(n) < p_zero, 0, rnbinom(n, size = 2, mu = mu))
w_int <- sample(0:3, n, replace = TRUE, prob = c(0.05, 0.45, 0.3, 0.2))  # case weights, some 0
w_frac <- round(runif(n, 0.2, 2.5), 4)  # non-integer weights
csv <- "tests/data/count_models_more.csv"
write.csv(data.frame(y, x1, x2, f, g, t, s, w_int, w_frac), csv, row.names = FALSE)
d <- read.csv(csv, stringsAsFactors = TRUE)
stopifnot(nrow(d) == n, identical(levels(d$g), sprintf("g%02d", 1:12)))

# -- an independent log-likelihood, to check pscl's optimum ----------------------------------------
loglik <- function(par, fit) {
  X <- model.matrix(fit, "count"); Z <- model.matrix(fit, "zero")
  kx <- ncol(X); kz <- ncol(Z)
  y <- fit$y
  w <- if (is.null(fit$weights)) rep(1, length(y)) else fit$weights
  ox <- if (is.null(fit$offset$count)) 0 else fit$offset$count
  oz <- if (is.null(fit$offset$zero)) 0 else fit$offset$zero
  mu <- as.vector(exp(X %*% par[1:kx] + ox))
  p <- make.link(fit$link)$linkinv(as.vector(Z %*% par[kx + 1:kz] + oz))
  theta <- switch(count_dist(fit), negbin = exp(par[kx + kz + 1]), geometric = 1, NA)
  logf <- function(k) if (is.na(theta)) dpois(k, mu, log = TRUE) else dnbinom(k, size = theta, mu = mu, log = TRUE)
  ll <- if (inherits(fit, "zeroinfl")) {
    ifelse(y == 0, log(p + (1 - p) * exp(logf(0))), log(1 - p) + logf(y))
  } else {
    ifelse(y == 0, log(1 - p), log(p) + logf(y) - log1p(-exp(logf(0))))
  }
  sum(w * ll)
}
count_dist <- function(fit) if (inherits(fit, "zeroinfl")) fit$dist else fit$dist$count

# every parameter pscl estimates: count, zero, then log(theta) for the negative binomial
all_params <- function(fit) {
  if (count_dist(fit) != "negbin") return(list(par = coef(fit)))
  list(par = c(coef(fit), log(fit$theta)))
}

# pscl's full negative Hessian (with log theta), in the order of all_params
full_information <- function(fit) {
  if (inherits(fit, "zeroinfl")) return(-fit$optim$hessian)
  kx <- length(fit$coefficients$count); kz <- length(fit$coefficients$zero)
  hc <- -fit$optim$count$hessian; hz <- -fit$optim$zero$hessian
  k <- kx + kz + (nrow(hc) - kx)
  info <- matrix(0, k, k)
  count_idx <- c(1:kx, if (nrow(hc) > kx) k)  # hurdle's count optim has (beta, log theta); we put log theta last
  info[count_idx, count_idx] <- hc
  info[kx + 1:kz, kx + 1:kz] <- hz
  info
}

newton_step_in_se <- function(fit) {
  par <- all_params(fit)$par
  grad <- sapply(seq_along(par), function(j) {  # five-point central differences, step 1e-3
    at <- function(k) { shifted <- par; shifted[j] <- shifted[j] + k * 1e-3; loglik(shifted, fit) }
    (8 * (at(1) - at(-1)) - (at(2) - at(-2))) / 12e-3
  })
  vc <- solve(full_information(fit))
  max(abs(vc %*% grad) / sqrt(diag(vc)))
}

# -- pscl's zeroinfl with the weights in the score of log(theta) ------------------------------------
# pscl 1.5.5's zeroinfl leaves the case weights out of the score of log(theta): its gradNegBin ends
#   colSums(cbind(wres_count * weights * X, wres_zero * weights * Z, wres_theta))
# (the hurdle's countGradNegBin weights it).  With weights other than 1, optim follows that wrong
# score and stops away from the maximum of pscl's own (correctly weighted) log-likelihood, and the
# Hessian, differences of that score, is wrong in the theta row.  zeroinfl_fixed is pscl's zeroinfl
# with `wres_theta * weights` there and nothing else changed; below it gives the same fit as pscl
# without weights, and with integer weights the same fit as pscl's on the rows repeated w times.
source_lines <- deparse(zeroinfl, width.cutoff = 500L)
bug <- grep("wres_zero * weights * Z, wres_theta))", source_lines, fixed = TRUE)
stopifnot(length(bug) == 1)
source_lines[bug] <- sub("wres_theta))", "wres_theta * weights))", source_lines[bug], fixed = TRUE)
zeroinfl_fixed <- eval(parse(text = source_lines))
environment(zeroinfl_fixed) <- asNamespace("pscl")

# -- the fits ---------------------------------------------------------------------------------------
rhs <- "x1 + x2 + f + offset(log(t)) | x2 + g + offset(log(s))"
formula <- as.formula(paste("y ~", rhs))
# (R's "non-integer #successes in a binomial glm!" warnings come from pscl's own starting values, the
# glm.fit of the zero part with the weights w_frac.)
zctl <- zeroinfl.control(reltol = 1e-15)
hctl <- hurdle.control(reltol = 1e-15)

summary_of <- function(fit) list(coef = unname(coef(fit)), loglik = as.numeric(logLik(fit)),
                                 theta = unname(fit$theta))

record <- function(fit, kind, dist, link, weights, python_formula = paste("y ~", rhs), extra = list()) {
  pscl_converged <- if (inherits(fit, "zeroinfl")) fit$converged else all(unlist(fit$converged))
  se <- sqrt(diag(vcov(fit)))
  step <- newton_step_in_se(fit)
  own <- loglik(all_params(fit)$par, fit)
  stopifnot(pscl_converged, all(is.finite(se)), max(se) < 5,  # no zero-part coefficient running off
            abs(own - as.numeric(logLik(fit))) < 1e-9 * abs(own), step < 1e-5)
  c(list(kind = kind, dist = dist, link = link, weights = weights, formula = python_formula,
         names = names(coef(fit)), coef = unname(coef(fit)), se = unname(se),
         loglik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"), n = fit$n,
         df_residual = fit$df.residual, aic = AIC(fit),
         theta = if (is.null(fit$theta)) NA else unname(fit$theta),
         se_logtheta = if (is.null(fit$SE.logtheta)) NA else unname(fit$SE.logtheta),
         pscl_converged = pscl_converged, newton_step_in_se = step), extra)
}

# every model with three links, and both kinds of weights with the logit link
designs <- list(list(link = "logit", weights = NA), list(link = "logit", weights = "w_int"),
                list(link = "logit", weights = "w_frac"), list(link = "probit", weights = NA),
                list(link = "probit", weights = "w_frac"), list(link = "cloglog", weights = "w_int"))
models <- list(list(kind = "zeroinfl", dist = "poisson"), list(kind = "zeroinfl", dist = "negbin"),
               list(kind = "zeroinfl", dist = "geometric"), list(kind = "hurdle", dist = "poisson"),
               list(kind = "hurdle", dist = "negbin"))
out <- list()
for (m in models) for (des in designs) {
  w <- if (is.na(des$weights)) NULL else d[[des$weights]]
  name <- paste(m$kind, m$dist, des$link, if (is.na(des$weights)) "unweighted" else des$weights, sep = "_")
  if (m$kind == "hurdle") {
    fit <- hurdle(formula, data = d, dist = m$dist, link = des$link, weights = w, control = hctl)
    out[[name]] <- record(fit, m$kind, m$dist, des$link, des$weights)
    next
  }
  fit <- zeroinfl_fixed(formula, data = d, dist = m$dist, link = des$link, weights = w, control = zctl)
  released <- zeroinfl(formula, data = d, dist = m$dist, link = des$link, weights = w, control = zctl)
  extra <- list()
  if (m$dist == "negbin" && !is.null(w)) {
    # pscl as released: not at the maximum (see zeroinfl_fixed), recorded for the record
    extra$pscl_released <- summary_of(released)
    stopifnot(as.numeric(logLik(fit)) > as.numeric(logLik(released)) + 1e-3)
  } else {
    stopifnot(identical(coef(fit), coef(released)), identical(vcov(fit), vcov(released)))
  }
  out[[name]] <- record(fit, m$kind, m$dist, des$link, des$weights, extra = extra)
}

# the count part's offset given by the `offset =` argument instead of offset() in the formula
fit <- zeroinfl(y ~ x1 + x2 + f | x2 + g + offset(log(s)), data = d, dist = "negbin", offset = log(t),
                control = zctl)
out$zeroinfl_negbin_offset_argument <- record(fit, "zeroinfl", "negbin", "logit", NA,
                                              "y ~ x1 + x2 + f | x2 + g + offset(log(s))",
                                              list(offset_argument = "log(t)"))
fit <- hurdle(y ~ x1 + x2 + f | x2 + g + offset(log(s)), data = d, dist = "poisson", offset = log(t),
              weights = w_int, control = hctl)
out$hurdle_poisson_offset_argument <- record(fit, "hurdle", "poisson", "logit", "w_int",
                                             "y ~ x1 + x2 + f | x2 + g + offset(log(s))",
                                             list(offset_argument = "log(t)"))

# integer weights are case weights: the same fit as the rows repeated w times (pscl's released
# zeroinfl on the repeated rows, which has no weights to leave out)
expanded <- d[rep(seq_len(n), d$w_int), ]
repeated <- list(zeroinfl_negbin = zeroinfl(formula, data = expanded, dist = "negbin", control = zctl),
                 hurdle_negbin = hurdle(formula, data = expanded, dist = "negbin", control = hctl),
                 zeroinfl_poisson = zeroinfl(formula, data = expanded, dist = "poisson", control = zctl))
for (name in names(repeated)) {
  weighted <- out[[paste0(name, "_logit_w_int")]]
  stopifnot(max(abs(weighted$coef - coef(repeated[[name]])) / weighted$se) < 1e-5,
            abs(weighted$loglik - as.numeric(logLik(repeated[[name]]))) < 1e-7,
            max(abs(weighted$se / sqrt(diag(vcov(repeated[[name]]))) - 1)) < 1e-5)
}

writeLines(toJSON(list(pscl = as.character(packageVersion("pscl")), R = R.version.string,
                       data = "tests/data/count_models_more.csv", cases = out),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/data/reference/count_models_more.json")
cat(sprintf("%-40s %3s %5s %12s %9s %9s\n", "case", "k", "n", "logLik", "step/SE", "max SE"))
for (name in names(out)) {
  case <- out[[name]]
  cat(sprintf("%-40s %3d %5d %12.4f %9.1e %9.3f\n", name, case$df, case$n, case$loglik, case$newton_step_in_se,
              max(case$se)))
}
