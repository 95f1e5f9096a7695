/*
 * The per-row math of IRLS under the log link for a variance mu^p, p = 1 (poisson, quasipoisson) or
 * p = 2 (gamma), and mu + mu^2 / theta (the negative binomial, at the end), in one place for the compiled
 * passes that use it:
 *
 *   glmformula/families/_log_link.c   the working response and weights, and the deviance, of one pass
 *   glmformula/design/_kernels.c      gf_log_step: the same fused with X beta and the mean
 *   glmformula/count/_zero_kernels.c  the compensated sums of a zero-inflated model's pass (gf_add_compensated)
 *
 * and the build attributes of their entry points (GF_MULTIVERSION).
 *
 *   log mu              max(eta, log eps)                 (the log link floors mu at eps)
 *   unit deviance / 2   p = 1: y (log y - log mu) - (y - mu)
 *                       p = 2: log mu - log y + y / mu - 1
 *   working response    z = (y - mu) / mu + eta - offset
 *   working weight      w = prior * mu^2 / V(mu)           (as R: mu_eta^2 / V(mu), which overflows where R's does)
 *
 * with log y given (0 where y = 0).  numpy is the reference implementation: glmformula/families/log_link.py
 * (the deviance by row chunks), the families' unit_deviance and IRLS's generic working response compute
 * the same numbers, and the tests compare both compiled passes with them.  A change here is a change to
 * both libraries (setup.py lists this header as a dependency of both, so that they are rebuilt); keep the
 * order of the operations, which fixes the rounding the tests compare.
 *
 * Everything is inline (forced with GCC and clang) so that each caller's loop keeps its instruction set and
 * stays free of calls and branches the compiler could not vectorise.
 */
#ifndef GLMFORMULA_LOG_LINK_MATH_H
#define GLMFORMULA_LOG_LINK_MATH_H

#if defined(__GNUC__)
#define GF_LOG_LINK_INLINE static inline __attribute__((always_inline))
#else
#define GF_LOG_LINK_INLINE static inline
#endif

/* With GCC on x86-64 Linux, an entry point marked so is also compiled for AVX2 + FMA, the version chosen when the
 * library loads; elsewhere the baseline build is used. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define GF_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GF_MULTIVERSION
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#define GF_LOG_EPS (-36.04365338911715) /* log(2^-52) */
#define GF_EPS 2.220446049250313e-16      /* 2^-52, the smallest mean the log link gives */

/* exp(x) for -38 <= x <= 709, within a few ulp: x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite, ln2 in two
 * parts), e^r by its Taylor polynomial to degree 13 (truncation below 1e-17 relative), times 2^k assembled in the
 * exponent bits.  Branch-free, so that a loop of it vectorises. */
GF_LOG_LINK_INLINE double gf_exp(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    const double t = x * 1.4426950408889634 + shifter;
    const double k = t - shifter;
    const double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10; /* fdlibm's split of ln2 */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    const uint64_t scale_bits = (bits - 0x4338000000000000ULL + 1023) << 52; /* (k + 1023) << 52 */
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

#define GF_DBL_MIN 2.2250738585072014e-308
#define GF_DBL_MAX 1.7976931348623157e308

/* log(x) for positive normal x, within about an ulp: fdlibm's __ieee754_log without its branches.  x = 2^k m with
 * m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f), log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))). */
GF_LOG_LINK_INLINE double gf_vlog(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01, lg3 = 2.857142874366239149e-01,
                 lg4 = 2.222219843214978396e-01, lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01,
                 lg7 = 1.479819860511658591e-01;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    const uint64_t mantissa = bits & 0x000fffffffffffffULL;
    const uint64_t half = (mantissa + 0x00095f6400000000ULL) & 0x0010000000000000ULL; /* m >= sqrt(2): halve it */
    const uint64_t exponent_bits = (bits >> 52) | 0x4330000000000000ULL; /* 2^52 + the biased exponent */
    const uint64_t m_bits = mantissa | (half ^ 0x3ff0000000000000ULL);
    double exponent, m;
    memcpy(&exponent, &exponent_bits, sizeof exponent);
    memcpy(&m, &m_bits, sizeof m);
    const double k = (exponent - 4503599627370496.0) - 1023.0 + (half ? 1.0 : 0.0);
    const double f = m - 1.0;
    const double s = f / (2.0 + f), z = s * s, w = z * z;
    const double r = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6));
    const double hfsq = 0.5 * f * f;
    return k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f);
}

/* Whether gf_vlog takes x: positive, normal and finite (NaN fails). */
GF_LOG_LINK_INLINE int gf_vlog_takes(double x)
{
    return x >= GF_DBL_MIN && x <= GF_DBL_MAX;
}

/* log y as the unit deviances read it, 0 where y = 0, for y = 0 or in gf_vlog's range (the caller checks: the
 * Python side's ``log_link.logs_in_pass``).  Both branches are computed and one selected, so that a loop of it
 * vectorises. */
GF_LOG_LINK_INLINE double gf_log_response(double y)
{
    const double log_y = gf_vlog(y);
    return y > 0.0 ? log_y : 0.0;
}

/* log mu of the mean the log link gives for eta: max(eta, log eps). */
GF_LOG_LINK_INLINE double gf_log_mean(double eta)
{
    return eta > GF_LOG_EPS ? eta : GF_LOG_EPS;
}

/* Half the unit deviance d(y, mu) for p = 1 or 2, from log y, log mu and mu. */
GF_LOG_LINK_INLINE double gf_log_half_unit_deviance(int power, double y, double log_y, double log_mu, double mu)
{
    return power == 1 ? (log_y - log_mu) * y - y + mu : log_mu - log_y + y / mu - 1.0;
}

/* The working response z = eta - offset + (y - mu) / mu_eta, with mu_eta = mu. */
GF_LOG_LINK_INLINE double gf_log_working_response(double y, double mu, double eta, double offset)
{
    return (y - mu) / mu + eta - offset;
}

/* The working weight prior * mu_eta^2 / V(mu), with mu_eta = mu and V(mu) = mu^p. */
GF_LOG_LINK_INLINE double gf_log_working_weight(int power, double mu, double prior)
{
    const double variance = power == 1 ? mu : mu * mu;
    return mu * mu / variance * prior;
}

/*
 * The negative binomial with theta known, V(mu) = mu + mu^2 / theta (MASS's negative.binomial(theta)):
 *
 *   unit deviance / 2   y (log y - log mu) - (y + theta) log((y + theta) / (mu + theta))
 *   working weight      w = prior * mu^2 / (mu + mu^2 / theta)
 *
 * in the operation order of the numpy reference (NegativeBinomial.unit_deviance, IRLS's generic working weight).
 */
/* Half the unit deviance from log y, log mu and log_ratio = log((y + theta) / (mu + theta)), taken by the caller
 * (with a vectorisable log, or libm's). */
GF_LOG_LINK_INLINE double gf_nb_half_unit_deviance(double theta, double y, double log_y, double log_mu,
                                                   double log_ratio)
{
    return (log_y - log_mu) * y - (y + theta) * log_ratio;
}

GF_LOG_LINK_INLINE double gf_nb_working_weight(double theta, double mu, double prior)
{
    const double variance = mu + mu * mu / theta;
    return mu * mu / variance * prior;
}

/* Adds x to the sum (*sum, *carry) with Neumaier's compensation: the sum is *sum + *carry. */
GF_LOG_LINK_INLINE void gf_add_compensated(double *sum, double *carry, double x)
{
    const double total = *sum + x;
    *carry += fabs(*sum) >= fabs(x) ? (*sum - total) + x : (x - total) + *sum;
    *sum = total;
}

#endif /* GLMFORMULA_LOG_LINK_MATH_H */
