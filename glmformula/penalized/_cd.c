/*
 * Coordinate descent on the covariance-mode quadratic model of a penalised GLM
 * (glmformula/penalized/solver.py, CovarianceModel.solve).
 *
 * Minimises over x
 *
 *     g0'(x - x0) + (x - x0)' H (x - x0) / 2 + sum_j l1_j |x_j| + l2_j x_j^2 / 2
 *
 * where H (m x m, symmetric, row-major) is X'VX and ``gradient`` holds g0 on
 * entry; it is kept equal to the model's gradient at x (g0 + H (x - x0)) and x
 * is updated in place.  Coordinate j's update is the soft-threshold
 *
 *     x_j <- S(H_jj x_j - gradient_j, l1_j) / (H_jj + l2_j)
 *
 * followed by gradient += (new - old) H_j (row j; H is symmetric).  Sweeps
 * follow glmnet: a sweep over every coordinate, then sweeps over the active set
 * (the nonzero coordinates and the unpenalised first one with an intercept)
 * until none moves a coordinate by more than ``stop`` (a change times
 * sqrt(H_jj)), then a full sweep again, until a full sweep moves nothing by
 * more than ``stop``.  The Python fallback in solver.py does exactly this, in
 * the same order, so both give the same numbers.
 *
 * The module is importable but has no Python methods: solver.py loads it
 * with ctypes.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict /* MSVC's C compiler spells C99's restrict this way */
#endif

/* sign(value) max(|value| - threshold, 0); within 1e-12 (relative) of the threshold counts as 0 */
static double soft_threshold(double value, double threshold)
{
    const double excess = fabs(value) - threshold;
    if (!(excess > 1e-12 * threshold))
        return 0.0;
    return value > 0 ? excess : (value < 0 ? -excess : 0.0);
}

/* One coordinate's update; returns its change times sqrt(H_jj) (0 when it does not move). */
static double update(int64_t m, int64_t j, const double *restrict H, double *restrict gradient,
                     double *restrict x, const double *l1, const double *l2)
{
    const double old = x[j], curvature = H[j * m + j];
    const double denominator = curvature + l2[j];
    if (denominator <= 0)
        return 0.0;
    const double new = soft_threshold(curvature * old - gradient[j], l1[j]) / denominator;
    if (new == old)
        return 0.0;
    const double delta = new - old;
    const double *restrict row = H + j * m;
    for (int64_t k = 0; k < m; k++)
        gradient[k] += delta * row[k];
    x[j] = new;
    return fabs(delta) * sqrt(curvature);
}

/* The largest change of a sweep over the coordinates listed in ``order`` (count of them). */
static double sweep(int64_t m, const int64_t *order, int64_t count, const double *H, double *gradient,
                    double *x, const double *l1, const double *l2)
{
    double largest = 0.0;
    for (int64_t i = 0; i < count; i++) {
        const double change = update(m, order[i], H, gradient, x, l1, l2);
        if (change > largest)
            largest = change;
    }
    return largest;
}

/*
 * Sweeps to convergence as described above.  ``work`` holds 2 m int64 (the
 * full order and the active set).  Gives up silently after ``max_sweeps``
 * full sweeps (the caller's outer loop judges convergence by the objective).
 */
void gf_cd_covariance(int64_t m, const double *H, double *gradient, double *x, const double *l1, const double *l2,
                     int64_t intercept, double stop, int64_t max_sweeps, int64_t *work)
{
    int64_t *everything = work, *active = work + m;
    for (int64_t j = 0; j < m; j++)
        everything[j] = j;
    for (int64_t outer = 0; outer < max_sweeps; outer++) {
        if (sweep(m, everything, m, H, gradient, x, l1, l2) < stop)
            return;
        int64_t count = 0;
        for (int64_t j = 0; j < m; j++)
            if (x[j] != 0 || (intercept && j == 0))
                active[count++] = j;
        for (int64_t inner = 0; inner < max_sweeps; inner++)
            if (sweep(m, active, count, H, gradient, x, l1, l2) < stop)
                break;
    }
}

static struct PyModuleDef cd_module = {PyModuleDef_HEAD_INIT, "_cd", "Coordinate descent, loaded with ctypes.", -1,
                                       NULL};

PyMODINIT_FUNC PyInit__cd(void) { return PyModule_Create(&cd_module); }
