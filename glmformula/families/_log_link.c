/*
 * IRLS's elementwise work for the log link and a variance mu^p with p = 1 (poisson, quasipoisson) or
 * p = 2 (gamma), or mu + mu^2 / theta (the negative binomial, with the sums of glm.nb's theta.ml and
 * log-likelihood), in one pass over the rows instead of numpy's dozen (glmformula/families/log_link.py).
 *
 *   working response  z = (y - mu) / mu + eta - offset
 *   working weights   w = prior * mu^2 / V(mu)
 *   deviance          2 sum w d(y, mu) / 2
 *
 * The per-row formulas are in log_link_math.h, shared with the fused step of design/_kernels.c; numpy is the
 * reference implementation (see there).  The working step returns nonzero, leaving the outputs to be ignored, when a mean is not positive and
 * finite or a result is not finite: numpy's path then masks or reports.  A NULL prior (or weights) pointer
 * means every weight is 1: a fit without weights keeps no array of ones.  Plain pointers, called through
 * ctypes; the module has no Python methods.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "log_link_math.h"

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict /* MSVC's C compiler spells C99's restrict this way */
#endif

int gf_log_working(int64_t n, int64_t power, const double *y, const double *eta, const double *mu,
                   const double *offset, const double *prior, double *z, double *w)
{
    for (int64_t i = 0; i < n; i++) {
        const double m = mu[i];
        if (!(m > 0.0) || !isfinite(m))
            return 1;
        const double zi = gf_log_working_response(y[i], m, eta[i], offset[i]);
        const double wi = gf_log_working_weight((int)power, m, prior ? prior[i] : 1.0);
        if (!isfinite(zi) || !isfinite(wi))
            return 2;
        z[i] = zi;
        w[i] = wi;
    }
    return 0;
}

/* log_y NULL: log y is taken here (gf_log_response; the caller has checked that every y is 0 or in gf_vlog's
 * range), so that a fit keeps no array of it. */
double gf_log_deviance(int64_t n, int64_t power, const double *y, const double *log_y, const double *weights,
                       const double *eta, const double *mu)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double ly = log_y ? log_y[i] : gf_log_response(y[i]);
        const double unit = gf_log_half_unit_deviance((int)power, y[i], ly, gf_log_mean(eta[i]), mu[i]);
        total += (weights ? weights[i] : 1.0) * unit;
    }
    return 2.0 * total;
}

/*
 * The negative binomial with theta known (log_link_math.h), over rows [start, stop) so that row ranges run on
 * threads.  Rows go in tiles of TILE: a loop without branches or calls that the compiler vectorises (exp and log
 * included, gf_exp (log_link_math.h) and gf_vlog below) writes each row's terms, and the tile's sum is added to the range's with
 * Neumaier's compensation: a sum over a million rows keeps about the accuracy of R's long double sums, which
 * theta.ml's score (a small difference of large sums) needs.  A tile with a value outside the fast functions'
 * range is done again with libm's.
 */
#define TILE 256

/* Each entry point is also compiled for AVX2 + FMA where the build allows it (log_link_math.h). */
#define MULTIVERSION GF_MULTIVERSION

/* The sum of a tile's terms, in four interleaved partial sums. */
static inline double gf_tile_sum(const double *terms, int64_t count)
{
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t t = 0;
    for (; t + 4 <= count; t += 4)
        for (int lane = 0; lane < 4; lane++)
            part[lane] += terms[t + lane];
    for (; t < count; t++)
        part[0] += terms[t];
    return (part[0] + part[1]) + (part[2] + part[3]);
}

/* log(x) by gf_vlog (fast) or libm. */
GF_LOG_LINK_INLINE double gf_log_by(const int fast, double x)
{
    return fast ? gf_vlog(x) : log(x);
}

/* The half unit deviances less y log y, w (d / 2 - y log y), of a tile whose eta is final (offset included), with
 * mu, z and w written; the log by gf_vlog (fast) or libm.  Returns nonzero when z or w is not finite (2) or, fast,
 * a log's argument is outside gf_vlog's range (1: the tile is then done again with libm's). */
GF_LOG_LINK_INLINE int nb_step_tile(const int fast, int64_t first, int64_t count, double theta,
                                    const double *restrict offset, const double *restrict y,
                                    const double *restrict prior_tile, const double *restrict eta,
                                    double *restrict mu, double *restrict z, double *restrict w,
                                    double *restrict units)
{
    int outside = 0, not_finite = 0;
    for (int64_t t = 0; t < count; t++) {
        const int64_t i = first + t;
        const double e = eta[i];
        const double low = e > -38.0 ? e : -38.0;
        const double m_raw = gf_exp(low < 709.0 ? low : 709.0);
        const double m = m_raw > GF_EPS ? m_raw : GF_EPS;
        const double yi = y[i];
        const double ratio = (yi + theta) / (m + theta);
        outside |= fast ? !gf_vlog_takes(ratio) : 0;
        /* without y log y (log y taken as 0), which the caller adds once */
        const double unit = gf_nb_half_unit_deviance(theta, yi, 0.0, gf_log_mean(e), gf_log_by(fast, ratio));
        const double zi = gf_log_working_response(yi, m, e, offset[i]);
        const double wi = gf_nb_working_weight(theta, m, prior_tile[t]);
        not_finite |= (int)!(fabs(zi) <= GF_DBL_MAX) | (int)!(wi <= GF_DBL_MAX); /* NaN too */
        mu[i] = m;
        z[i] = zi;
        w[i] = wi;
        units[t] = prior_tile[t] * unit;
    }
    return not_finite ? 2 : outside;
}

/*
 * IRLS's step after X beta: eta holds X beta (add_offset: the offset is added) or the whole linear predictor, and
 * it writes eta, mu = max(exp(eta), eps), z and w, and sum w (d / 2 - y log y) into *half_deviance (the caller adds
 * sum w y log y, which depends on y alone: gf_nb_sums); nonzero when an eta is not finite or above 709 (exp would
 * overflow) or z or w is not finite, the outputs then to be ignored (numpy's path reports or halves).
 */
MULTIVERSION int gf_nb_step(int64_t start, int64_t stop, double theta, int64_t add_offset, const double *offset,
                            const double *y, const double *prior, double *eta, double *mu, double *z, double *w,
                            double *half_deviance)
{
    double units[TILE], ones[TILE];
    double total = 0.0, carry = 0.0;
    for (int64_t t = 0; t < TILE; t++)
        ones[t] = 1.0;
    for (int64_t first = start; first < stop; first += TILE) {
        const int64_t count = stop - first < TILE ? stop - first : TILE;
        const double *p = prior ? prior + first : ones;
        int bad = 0;
        for (int64_t i = first; i < first + count; i++) {
            const double e = add_offset ? eta[i] + offset[i] : eta[i];
            bad |= (int)!(e <= 709.0) | (int)!(e >= -GF_DBL_MAX); /* NaN fails; beyond 709 exp overflows */
            eta[i] = e;
        }
        if (bad)
            return 1;
        int status = nb_step_tile(1, first, count, theta, offset, y, p, eta, mu, z, w, units);
        if (status == 1)
            status = nb_step_tile(0, first, count, theta, offset, y, p, eta, mu, z, w, units);
        if (status)
            return 2;
        gf_add_compensated(&total, &carry, gf_tile_sum(units, count));
    }
    *half_deviance = total + carry;
    return 0;
}

/* The working response and weights alone, from eta and mu (as gf_log_working). */
MULTIVERSION int gf_nb_working(int64_t start, int64_t stop, double theta, const double *y, const double *eta,
                               const double *mu, const double *offset, const double *prior, double *z, double *w)
{
    int bad = 0;
    for (int64_t i = start; i < stop; i++) {
        const double m = mu[i];
        const double zi = gf_log_working_response(y[i], m, eta[i], offset[i]);
        const double wi = gf_nb_working_weight(theta, m, prior ? prior[i] : 1.0);
        bad |= (int)!(m > 0.0) | (int)!(m <= GF_DBL_MAX) | (int)!(fabs(zi) <= GF_DBL_MAX) | (int)!(wi <= GF_DBL_MAX);
        z[i] = zi;
        w[i] = wi;
    }
    return bad;
}

/* A tile's w d / 2 from eta and mu (log mu = max(eta, log eps), as the log link gives mu); as nb_step_tile. */
GF_LOG_LINK_INLINE int nb_deviance_tile(const int fast, int64_t first, int64_t count, double theta,
                                        const double *restrict y, const double *restrict log_y,
                                        const double *restrict weight_tile, const double *restrict eta,
                                        const double *restrict mu, double *restrict units)
{
    int outside = 0;
    for (int64_t t = 0; t < count; t++) {
        const int64_t i = first + t;
        const double yi = y[i], ratio = (yi + theta) / (mu[i] + theta);
        outside |= fast ? !gf_vlog_takes(ratio) : 0;
        const double log_ratio = gf_log_by(fast, ratio);
        units[t] = weight_tile[t] * gf_nb_half_unit_deviance(theta, yi, log_y[i], gf_log_mean(eta[i]), log_ratio);
    }
    return outside;
}

/* sum w d / 2 of rows [start, stop) from eta and mu. */
MULTIVERSION double gf_nb_half_deviance(int64_t start, int64_t stop, double theta, const double *y,
                                        const double *log_y, const double *weights, const double *eta,
                                        const double *mu)
{
    double units[TILE], ones[TILE];
    double total = 0.0, carry = 0.0;
    for (int64_t t = 0; t < TILE; t++)
        ones[t] = 1.0;
    for (int64_t first = start; first < stop; first += TILE) {
        const int64_t count = stop - first < TILE ? stop - first : TILE;
        const double *w = weights ? weights + first : ones;
        if (nb_deviance_tile(1, first, count, theta, y, log_y, w, eta, mu, units))
            nb_deviance_tile(0, first, count, theta, y, log_y, w, eta, mu, units);
        gf_add_compensated(&total, &carry, gf_tile_sum(units, count));
    }
    return total + carry;
}

/* A tile's terms of gf_nb_sums (see there) into first[] and second[], with the tile's weights w[]; as
 * nb_step_tile. */
GF_LOG_LINK_INLINE int nb_sums_tile(const int fast, const int kind, int64_t row, int64_t count, double theta,
                                    const double *restrict y, const double *restrict mu, const double *restrict w,
                                    double *restrict first, double *restrict second)
{
    int outside = 0;
    for (int64_t t = 0; t < count; t++) {
        const double yi = y[row + t], m = mu[row + t], wi = w[t];
        if (kind == 0) {
            const double residual = yi - m, ratio = yi / m - 1.0;
            first[t] = wi * ((residual * residual - yi) / (m * m));
            second[t] = wi * (ratio * ratio);
        } else if (kind == 1) {
            const double theta_mu = theta + m, inverse = 1.0 / theta_mu, r = (yi + theta) * inverse;
            outside |= fast ? !gf_vlog_takes(theta_mu) : 0;
            first[t] = wi * (gf_log_by(fast, theta_mu) + r);
            second[t] = wi * ((2.0 - r) * inverse);
        } else if (kind == 3) {
            outside |= fast ? !gf_vlog_takes(yi) & (yi != 0.0) : 0;
            first[t] = yi != 0.0 ? wi * (yi * gf_log_by(fast, yi)) : 0.0;
            second[t] = 0.0;
        } else {
            outside |= fast ? !gf_vlog_takes(m) | !gf_vlog_takes(theta + m) : 0;
            const double y_log_mu = yi != 0.0 ? yi * gf_log_by(fast, m) : 0.0;
            first[t] = wi * (y_log_mu - (theta + yi) * gf_log_by(fast, theta + m));
            second[t] = 0.0;
        }
    }
    return outside;
}

/*
 * The sums over rows that involve mu in MASS's theta.ml and loglik (glm.nb), for rows [start, stop), into sums[]:
 *
 *   kind 0, theta.ml's start    sum w ((y - mu)^2 - y) / mu^2    (the score of 1/theta at 0)
 *                               sum w (y / mu - 1)^2             (the moment estimate's denominator)
 *   kind 1, a Newton step       sum w (log(theta + mu) + r)      with r = (y + theta) / (mu + theta)
 *                               sum w (2 - r) / (theta + mu)
 *   kind 2, the log-likelihood  sum w (y log mu - (theta + y) log(theta + mu))   (y log mu = 0 where y = 0)
 *   kind 3, the deviance's      sum w y log y                    (0 where y = 0; mu is not read)
 *           term in y alone
 *
 * the sums over digamma, trigamma and lgamma of y + theta are taken by distinct value of y, in Python.  With w
 * NULL every weight is 1 (and the weights are not read).
 */
MULTIVERSION void gf_nb_sums(int64_t start, int64_t stop, int64_t kind, double theta, const double *y,
                             const double *mu, const double *weights, double *sums)
{
    double first_terms[TILE], second_terms[TILE], ones[TILE];
    double first = 0.0, first_carry = 0.0, second = 0.0, second_carry = 0.0;
    for (int64_t t = 0; t < TILE; t++)
        ones[t] = 1.0;
    for (int64_t row = start; row < stop; row += TILE) {
        const int64_t count = stop - row < TILE ? stop - row : TILE;
        const double *w = weights ? weights + row : ones;
        int outside;
        if (kind == 0)
            outside = nb_sums_tile(1, 0, row, count, theta, y, mu, w, first_terms, second_terms);
        else if (kind == 1)
            outside = nb_sums_tile(1, 1, row, count, theta, y, mu, w, first_terms, second_terms);
        else if (kind == 2)
            outside = nb_sums_tile(1, 2, row, count, theta, y, mu, w, first_terms, second_terms);
        else
            outside = nb_sums_tile(1, 3, row, count, theta, y, mu, w, first_terms, second_terms);
        if (outside)
            nb_sums_tile(0, (int)kind, row, count, theta, y, mu, w, first_terms, second_terms);
        gf_add_compensated(&first, &first_carry, gf_tile_sum(first_terms, count));
        gf_add_compensated(&second, &second_carry, gf_tile_sum(second_terms, count));
    }
    sums[0] = first + first_carry;
    sums[1] = second + second_carry;
}

static struct PyModuleDef log_link_module = {PyModuleDef_HEAD_INIT, "_log_link",
                                             "IRLS's elementwise work under the log link, loaded with ctypes.", -1,
                                             NULL};

PyMODINIT_FUNC PyInit__log_link(void) { return PyModule_Create(&log_link_module); }
