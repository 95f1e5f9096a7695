/*
 * IRLS's elementwise work for the log link and a variance mu^p with p = 1 (poisson, quasipoisson) or
 * p = 2 (gamma), in one pass over the rows instead of numpy's dozen (glmformula/families/log_link.py).
 *
 *   working response  z = (y - mu) / mu + eta - offset
 *   working weights   w = prior * mu^2 / V(mu)
 *   deviance          2 sum w d(y, mu) / 2
 *
 * The per-row formulas are in log_link_math.h, shared with the fused step of design/_kernels.c; numpy is the
 * reference implementation (see there).  The working step returns nonzero, leaving the outputs to be ignored, when a mean is not positive and
 * finite or a result is not finite: numpy's path then masks or reports.  Plain pointers, called through
 * ctypes; the module has no Python methods.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>

#include "log_link_math.h"

int gf_log_working(int64_t n, int64_t power, const double *y, const double *eta, const double *mu,
                   const double *offset, const double *prior, double *z, double *w)
{
    for (int64_t i = 0; i < n; i++) {
        const double m = mu[i];
        if (!(m > 0.0) || !isfinite(m))
            return 1;
        const double zi = gf_log_working_response(y[i], m, eta[i], offset[i]);
        const double wi = gf_log_working_weight((int)power, m, prior[i]);
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
        const double unit = gf_log_half_unit_deviance((int)power, y[i], log_y[i], gf_log_mean(eta[i]), mu[i]);
        total += weights[i] * unit;
    }
    return 2.0 * total;
}

static struct PyModuleDef log_link_module = {PyModuleDef_HEAD_INIT, "_log_link",
                                             "IRLS's elementwise work under the log link, loaded with ctypes.", -1,
                                             NULL};

PyMODINIT_FUNC PyInit__log_link(void) { return PyModule_Create(&log_link_module); }
