# Reference figures for glmformula.survival: survSplit, the piecewise-exponential Poisson glm,
# coxph with Breslow ties and survfit's Breslow curve, on the bundled veteran and lung data.
# R 4.2.2 with survival 3.5 (Debian's r-base-core and r-cran-survival).
# Run from the project root:  Rscript tests/data/reference/survival.R
# (writes tests/data/reference/survival.json).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

data_dir <- "glmformula/datasets/data"
out_path <- "tests/data/reference/survival.json"

# The bundled CSVs read with the column types of the survival package's own data (checked below).
veteran_csv <- read.csv(file.path(data_dir, "veteran.csv"))
veteran_csv$celltype <- factor(veteran_csv$celltype, levels = c("squamous", "smallcell", "adeno", "large"))
lung_csv <- read.csv(file.path(data_dir, "lung.csv"))
stopifnot(isTRUE(all.equal(veteran_csv, survival::veteran, check.attributes = FALSE)))
stopifnot(isTRUE(all.equal(lung_csv, as.data.frame(survival::lung), check.attributes = FALSE)))

veteran_rhs <- "trt + celltype + karno + diagtime + age + prior"
lung_rhs <- "age + sex + ph.ecog"
datasets <- list(veteran = veteran_csv, lung = lung_csv)
rhs_of <- list(veteran = veteran_rhs, lung = lung_rhs)

# Left-truncated veteran: entry at floor(time / 3), so that start < time for every subject.
veteran_trunc <- veteran_csv
veteran_trunc$entry <- floor(veteran_trunc$time / 3)

quantile_cuts <- function(d, k) {
  event_times <- d$time[d$status == max(d$status)]  # status 1 (0/1) or 2 (1/2 coding)
  unname(unique(quantile(event_times, probs = seq_len(k - 1) / k, type = 7)))
}

split_cases <- list(
  veteran_cuts = list(dataset = "veteran", cuts = c(30, 90, 180, 365), start = NULL, quantiles = NULL),
  veteran_quantiles4 = list(dataset = "veteran", cuts = quantile_cuts(veteran_csv, 4), start = NULL, quantiles = 4),
  veteran_truncated = list(dataset = "veteran", cuts = c(30, 90, 180, 365), start = "entry", quantiles = NULL),
  lung_cuts = list(dataset = "lung", cuts = c(180, 365, 540), start = NULL, quantiles = NULL)
)

do_split <- function(case) {
  if (is.null(case$start)) {
    d <- datasets[[case$dataset]]
    survSplit(Surv(time, status) ~ ., data = d, cut = case$cuts, episode = "episode", id = "id")
  } else {
    survSplit(Surv(entry, time, status) ~ ., data = veteran_trunc, cut = case$cuts, episode = "episode", id = "id")
  }
}

split_out <- list()
glm_out <- list()
for (name in names(split_cases)) {
  case <- split_cases[[name]]
  s <- do_split(case)
  start_col <- if (is.null(case$start)) "tstart" else "entry"
  s$exposure <- s$time - s[[start_col]]
  split_out[[name]] <- list(
    dataset = case$dataset, cuts = case$cuts, start = if (is.null(case$start)) NA else case$start,
    quantiles = if (is.null(case$quantiles)) NA else case$quantiles,
    n_rows = nrow(s),
    id = s$id, tstart = s[[start_col]], tstop = s$time, event = s$status, episode = s$episode
  )
  rhs <- rhs_of[[case$dataset]]
  fit <- glm(as.formula(paste("status ~ factor(episode) +", rhs, "+ offset(log(exposure))")),
             family = poisson, data = s)
  glm_out[[name]] <- list(
    rhs = rhs, iter = fit$iter, names = names(coef(fit)), coef = unname(coef(fit)),
    se = unname(summary(fit)$coefficients[, 2]), deviance = fit$deviance, n_used = nobs(fit)
  )
}

# Risk-set ("events") expansion: cut at every distinct event time and keep only the rows that end
# at an event time (a subject censored between two event times is not at risk at the next one).
events_split <- function(d) {
  event_times <- sort(unique(d$time[d$status == max(d$status)]))
  s <- survSplit(Surv(time, status) ~ ., data = d, cut = event_times, episode = "episode", id = "id")
  s <- s[s$time %in% event_times, ]
  row.names(s) <- NULL
  list(data = s, event_times = event_times)
}

events_out <- list()
cox_out <- list()
survfit_out <- list()
newdata_of <- list(
  veteran = data.frame(trt = c(1, 2), celltype = factor(c("squamous", "adeno"), levels = levels(veteran_csv$celltype)),
                       karno = c(60, 40), diagtime = c(5, 10), age = c(60, 70), prior = c(0, 10)),
  lung = data.frame(age = c(60, 70), sex = c(1, 2), ph.ecog = c(1, 2))
)
for (name in names(datasets)) {
  d <- datasets[[name]]
  expanded <- events_split(d)
  s <- expanded$data
  head_rows <- head(s, 5)
  tail_rows <- tail(s, 5)
  events_out[[name]] <- list(
    event_times = expanded$event_times, n_rows = nrow(s),
    sum_tstart = sum(s$tstart), sum_tstop = sum(s$time), sum_event = sum(s$status),
    rows_per_id = unname(as.vector(table(factor(s$id, levels = seq_len(nrow(d)))))),
    risk_set_size = unname(as.vector(table(factor(s$time, levels = expanded$event_times)))),
    first = list(id = head_rows$id, tstart = head_rows$tstart, tstop = head_rows$time, event = head_rows$status),
    last = list(id = tail_rows$id, tstart = tail_rows$tstart, tstop = tail_rows$time, event = tail_rows$status)
  )
  rhs <- rhs_of[[name]]
  poisson_fit <- glm(as.formula(paste("status ~ factor(time) +", rhs)), family = poisson, data = s,
                     control = glm.control(epsilon = 1e-12, maxit = 100))
  covariates <- names(coef(poisson_fit))[-(1:length(expanded$event_times))]
  events_out[[name]]$glm <- list(
    rhs = rhs, names = covariates, coef = unname(coef(poisson_fit)[covariates]),
    se = unname(summary(poisson_fit)$coefficients[covariates, 2])
  )
  cox <- coxph(as.formula(paste("Surv(time, status) ~", rhs)), data = d, ties = "breslow",
               control = coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15))
  cox_out[[name]] <- list(
    rhs = rhs, names = names(coef(cox)), coef = unname(coef(cox)), se = unname(sqrt(diag(vcov(cox)))),
    loglik = cox$loglik[2], n = cox$n, nevent = cox$nevent
  )
  curve <- survfit(cox, newdata = newdata_of[[name]], se.fit = TRUE, conf.type = "log-log", ctype = 1, stype = 2)
  at_events <- curve$n.event > 0
  survfit_out[[name]] <- list(
    newdata = as.list(lapply(newdata_of[[name]], function(v) if (is.factor(v)) as.character(v) else v)),
    time = curve$time[at_events],
    cumhaz = unname(curve$cumhaz[at_events, , drop = FALSE]),
    surv = unname(curve$surv[at_events, , drop = FALSE]),
    std_err_cumhaz = unname(curve$std.err[at_events, , drop = FALSE]),
    lower = unname(curve$lower[at_events, , drop = FALSE]),
    upper = unname(curve$upper[at_events, , drop = FALSE])
  )
}

# Left truncation: Cox on (entry, time], the counterpart of the risk-set expansion with entry times.
cox_trunc <- coxph(as.formula(paste("Surv(entry, time, status) ~", veteran_rhs)), data = veteran_trunc,
                   ties = "breslow", control = coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15))
cox_out[["veteran_truncated"]] <- list(
  rhs = veteran_rhs, names = names(coef(cox_trunc)), coef = unname(coef(cox_trunc)),
  se = unname(sqrt(diag(vcov(cox_trunc)))), loglik = cox_trunc$loglik[2], n = cox_trunc$n, nevent = cox_trunc$nevent
)

result <- list(
  meta = list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
              script = "tests/data/reference/survival.R"),
  split = split_out, glm = glm_out, events = events_out, coxph = cox_out, survfit = survfit_out
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, na = "null", matrix = "columnmajor"), out_path)
