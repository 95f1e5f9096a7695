/*
 * IRLS's elementwise work for the log link and a variance mu^p with p = 1 (poisson, quasipoisson) or
 * p = 2 (gamma), in one pass over the rows instead of numpy's dozen (glmformula/families/log_link.py).
 *
 *   working response  z = (y - mu) / mu + eta - offset
 *   working weights   w = prior * mu^2 / V(mu)
 *   deviance          p = 1: 2 sum w (y (log y - log mu) - (y - mu))
 *                     p = 2: 2 sum w (log mu - log y + y / mu - 1)
 *
 * with log mu = max(eta, log(eps)), as the log link floors mu at eps, and log y given (0 where y = 0).
 * The working step returns nonzero, leaving the outputs to be ignored, when a mean is not positive and
 * finite or a result is not finite: numpy's path then masks or reports.  Plain pointers, called through
 * ctypes; the module has no Python methods.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>

static const double LOG_EPS = -36.04365338911715; /* log(2^-52) */

int gf_log_working(int64_t n, int64_t power, const double *y, const double *eta, const double *mu,
                   const double *offset, const double *prior, double *z, double *w)
{
    for (int64_t i = 0; i < n; i++) {
        const double m = mu[i];
        if (!(m > 0.0) || !isfinite(m))
            return 1;
        const double variance = power == 1 ? m : m * m;
        const double zi = (y[i] - m) / m + eta[i] - offset[i];
        const double wi = m * m / variance * prior[i];
        if (!isfinite(zi) || !isfinite(wi))
            return 2;
        z[i] = zi;
        w[i] = wi;
    }
    return 0;
}

double gf_log_deviance(int64_t n, int64_t power, const double *y, const double *log_y, const double *weights,
                       const double *eta, const double *mu)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double log_mu = eta[i] > LOG_EPS ? eta[i] : LOG_EPS;
        const double unit = power == 1 ? (log_y[i] - log_mu) * y[i] - y[i] + mu[i]
                                       : log_mu - log_y[i] + y[i] / mu[i] - 1.0;
        total += weights[i] * unit;
    }
    return 2.0 * total;
}

static struct PyModuleDef log_link_module = {PyModuleDef_HEAD_INIT, "_log_link",
                                             "IRLS's elementwise work under the log link, loaded with ctypes.", -1,
                                             NULL};

PyMODINIT_FUNC PyInit__log_link(void) { return PyModule_Create(&log_link_module); }
