/*
 * Row-pass kernels of the categorical-aware design (glmformula/design/categorical.py).
 *
 * A design of n rows is a row-major dense block D (n x pd) and K categorical
 * blocks, each an int32 code per row (-1 for the reference level: no column).
 * One pass over rows [start, stop) accumulates everything IRLS needs from
 * X'WX and X'Wz:
 *
 *     gram   (pd x pd, upper triangle)  sum_i w_i d_i d_i'
 *     xtw    (pd)                       sum_i w_i z_i d_i
 *     diag_k (size_k)                   sum_{i: c_ki = l} w_i
 *     bxtw_k (size_k)                   sum_{i: c_ki = l} w_i z_i
 *     cross_k (size_k x pd)             sum_{i: c_ki = l} w_i d_i'
 *     pair_kl (size_k x size_l), k < l  sum_{i: c_ki = a, c_li = b} w_i
 *
 * and X beta = D beta_D + beta_k[c_ki] summed over blocks.  With the flag intercept, D's first column is a
 * column of 1s that the stored block does not hold: the kernels take the row [1, stored row] (pd stored columns,
 * pd + 1 in gram, xtw and cross), adding the 1s' terms with the same operations in the same order as a stored
 * column of 1s would (w * 1 is w exactly), so that the results are the same to the bit.  A block may carry a value per row (g:x: the
 * row's x in its level's column, v_ki; NULL for indicators, v = 1): w_i above is then w_i v_ki (and
 * w_i v_ki v_li in pairs, w_i v_ki^2 in diag_k), and X beta adds beta_k[c_ki] v_ki.  A pair of large
 * blocks may instead be accumulated by its observed cells: cell_kl[i] (-1: none) indexes pair_kl, whose
 * size is then the number of cells (a table of size_k x size_l would be mostly zeros: 20,000 cells of
 * 20 x 1,000 levels, nested, take 19 million entries); for a nested pair cell_kl is block l's own codes and
 * gate_kl block k's, the row's cell being cell_kl[i] where gate_kl[i] >= 0 (no array of cells is
 * written for it).  Each row is read
 * once; the accumulators are small enough to stay in cache.  The functions take
 * plain pointers (called through ctypes, which releases the GIL, so that row
 * ranges can run on several threads into separate accumulators).  The module is
 * importable but has no Python methods: glmformula/design/kernels.py loads it.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "log_link_math.h" /* glmformula/families: the log link's per-row math, shared with _log_link.c */

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict /* MSVC's C compiler spells C99's restrict this way */
#endif

#define MAX_DENSE 64 /* the kernels refuse wider dense blocks (the caller takes numpy's path) */

/* Each entry point is also compiled for AVX2 + FMA where the build allows it, the best version chosen when the
 * library loads (log_link_math.h). */
#define MULTIVERSION GF_MULTIVERSION

/* gram += sum over 4 rows of w_r x_r x_r' (upper triangle): four rows per read-modify-write of gram; x0 is the
 * first of 4 stored rows of pd columns, after the implicit 1 when ic (gram is then (pd + 1) x (pd + 1)). */
static void add_dense_rows4(int64_t pd, int64_t ic, const double *restrict x0, const double *restrict w,
                            double *restrict gram)
{
    const int64_t width = pd + ic;
    const double *x1 = x0 + pd, *x2 = x1 + pd, *x3 = x2 + pd;
    if (ic) { /* gram's row of the 1s: u_r = w_r * 1 */
        gram[0] += w[0] + w[1] + w[2] + w[3];
        for (int64_t b = 0; b < pd; b++)
            gram[1 + b] += w[0] * x0[b] + w[1] * x1[b] + w[2] * x2[b] + w[3] * x3[b];
    }
    for (int64_t a = 0; a < pd; a++) {
        double *restrict row = gram + (a + ic) * width + ic;
        const double u0 = w[0] * x0[a], u1 = w[1] * x1[a], u2 = w[2] * x2[a], u3 = w[3] * x3[a];
        for (int64_t b = a; b < pd; b++)
            row[b] += u0 * x0[b] + u1 * x1[b] + u2 * x2[b] + u3 * x3[b];
    }
}

static void add_dense_row(int64_t pd, int64_t ic, const double *restrict x, double weight, double *restrict gram)
{
    const int64_t width = pd + ic;
    if (ic) {
        gram[0] += weight;
        for (int64_t b = 0; b < pd; b++)
            gram[1 + b] += weight * x[b];
    }
    for (int64_t a = 0; a < pd; a++) {
        double *restrict row = gram + (a + ic) * width + ic;
        const double u = weight * x[a];
        for (int64_t b = a; b < pd; b++)
            row[b] += u * x[b];
    }
}

/* Everything of one row but its dense cross-product. */
static void add_row_rest(int64_t i, int64_t pd, int64_t ic, const double *restrict x, double wi, const double *z,
                         int64_t n_blocks, const int32_t *const *codes, const int64_t *sizes,
                         const double *const *values, const int32_t *const *cells, double *restrict xtw,
                         double *const *diag, double *const *bxtw, double *const *cross, double *const *pairs)
{
    const double wz = z ? wi * z[i] : 0.0;
    const int64_t width = pd + ic;
    if (z) {
        if (ic)
            xtw[0] += wz;
        for (int64_t a = 0; a < pd; a++)
            xtw[ic + a] += wz * x[a];
    }
    int64_t pair = 0;
    for (int64_t k = 0; k < n_blocks; k++) {
        const int32_t level = codes[k][i];
        const double v = values[k] ? values[k][i] : 1.0;
        const double wv = wi * v;
        if (level >= 0) {
            diag[k][level] += wv * v;
            if (z)
                bxtw[k][level] += wz * v;
            double *restrict row = cross[k] + (int64_t)level * width;
            if (ic)
                row[0] += wv;
            for (int64_t a = 0; a < pd; a++)
                row[ic + a] += wv * x[a];
        }
        for (int64_t l = k + 1; l < n_blocks; l++, pair++) {
            const double wvv = values[l] ? wv * values[l][i] : wv;
            if (cells[pair]) {
                continue; /* by add_cell_sums, after the rows */
            } else {
                const int32_t other = codes[l][i];
                if (level >= 0 && other >= 0)
                    pairs[pair][(int64_t)level * sizes[l] + other] += wvv;
            }
        }
    }
}

/* The pairs accumulated by cells, for rows [start, stop): a loop of its own, since its scattered adds into
 * the cell sums (S8's 1,000 x 5,000 levels: 900,000 cells, 7 MB) would evict the blocks' accumulators from
 * the cache inside the row loop (there it cost ten times this loop). */
static void add_cell_sums(int64_t start, int64_t stop, const double *w, int64_t n_blocks,
                          const double *const *values, const int32_t *const *cells, const int32_t *const *gates,
                          double *const *pairs)
{
    int64_t pair = 0;
    for (int64_t k = 0; k < n_blocks; k++)
        for (int64_t l = k + 1; l < n_blocks; l++, pair++) {
            if (!cells[pair])
                continue;
            const int32_t *restrict cell = cells[pair];
            const int32_t *restrict gate = gates[pair];
            double *restrict sums = pairs[pair];
            const double *restrict vk = values[k], *restrict vl = values[l];
            for (int64_t i = start; i < stop; i++)
                if (cell[i] >= 0 && (!gate || gate[i] >= 0))
                    sums[cell[i]] += w[i] * (vk ? vk[i] : 1.0) * (vl ? vl[i] : 1.0);
        }
}

/* The products of rows [start, stop), added to the accumulators (z may be NULL: no X'Wz; values[k] NULL for a
 * block of indicators; cells[pair] NULL for a pair accumulated as a size_k x size_l table; gates[pair] NULL but
 * for a nested pair, see the top; intercept: the implicit column of 1s, see the top). */
MULTIVERSION int gf_products(int64_t start, int64_t stop, int64_t pd, int64_t intercept, const double *dense,
                const double *w, const double *z,
                int64_t n_blocks, const int32_t *const *codes, const int64_t *sizes, const double *const *values,
                const int32_t *const *cells, const int32_t *const *gates, double *gram, double *xtw,
                double *const *diag, double *const *bxtw, double *const *cross, double *const *pairs)
{
    const int64_t ic = intercept ? 1 : 0;
    if (pd + ic > MAX_DENSE)
        return -1;
    int64_t i = start;
    for (; i + 4 <= stop; i += 4) {
        add_dense_rows4(pd, ic, dense + i * pd, w + i, gram);
        for (int64_t r = i; r < i + 4; r++)
            add_row_rest(r, pd, ic, dense + r * pd, w[r], z, n_blocks, codes, sizes, values, cells, xtw, diag, bxtw,
                         cross, pairs);
    }
    for (; i < stop; i++) {
        add_dense_row(pd, ic, dense + i * pd, w[i], gram);
        add_row_rest(i, pd, ic, dense + i * pd, w[i], z, n_blocks, codes, sizes, values, cells, xtw, diag, bxtw,
                     cross, pairs);
    }
    add_cell_sums(start, stop, w, n_blocks, values, cells, gates, pairs);
    return 0;
}

/* X'Wv of rows [start, stop) (X'v when w is NULL), added to xtw (pd, + 1 with the implicit intercept) and bxtw
 * (one table per block; a block's values, when not NULL, multiply its rows' terms). */
MULTIVERSION void gf_xtw(int64_t start, int64_t stop, int64_t pd, int64_t intercept, const double *dense,
            const double *v, const double *w, int64_t n_blocks, const int32_t *const *codes,
            const double *const *values, double *xtw, double *const *bxtw)
{
    const int64_t ic = intercept ? 1 : 0;
    for (int64_t i = start; i < stop; i++) {
        const double *x = dense + i * pd;
        const double vi = w ? w[i] * v[i] : v[i];
        if (ic)
            xtw[0] += vi;
        for (int64_t a = 0; a < pd; a++)
            xtw[ic + a] += vi * x[a];
        for (int64_t k = 0; k < n_blocks; k++) {
            const int32_t level = codes[k][i];
            if (level >= 0)
                bxtw[k][level] += values[k] ? vi * values[k][i] : vi;
        }
    }
}

/* Helpers of the kernels below are inlined into each, so that they take the kernel's instruction set. */
#if defined(__GNUC__)
#define ROW_HELPER static inline __attribute__((always_inline))
#else
#define ROW_HELPER static inline
#endif

/* D[i] . beta_dense + sum_k beta_k[c_ki] v_ki (a code of -1 adds nothing; v = 1 where values or values[k] is
 * NULL): row i of X beta.  With ic, beta_dense[0] is the implicit intercept's. */
ROW_HELPER double row_dot(int64_t i, int64_t pd, int64_t ic, const double *dense, const double *beta_dense,
                          int64_t n_blocks, const int32_t *const *codes, const double *const *beta_blocks,
                          const double *const *values)
{
    const double *x = dense + i * pd;
    const double *b = beta_dense + ic;
    double value = ic ? beta_dense[0] : 0.0; /* 0 + 1 beta_0, as the stored column of 1s gave */
    for (int64_t a = 0; a < pd; a++)
        value += x[a] * b[a];
    for (int64_t k = 0; k < n_blocks; k++) {
        const int32_t level = codes[k][i];
        if (level >= 0)
            value += values && values[k] ? beta_blocks[k][level] * values[k][i] : beta_blocks[k][level];
    }
    return value;
}

/* eta = X beta for rows [start, stop) (values: as in gf_products, or NULL for none at all). */
MULTIVERSION void gf_dot(int64_t start, int64_t stop, int64_t pd, int64_t intercept, const double *dense,
            const double *beta_dense, int64_t n_blocks, const int32_t *const *codes,
            const double *const *beta_blocks, const double *const *values, double *eta)
{
    const int64_t ic = intercept ? 1 : 0;
    for (int64_t i = start; i < stop; i++)
        eta[i] = row_dot(i, pd, ic, dense, beta_dense, n_blocks, codes, beta_blocks, values);
}

/*
 * One IRLS step's elementwise work under the log link, fused with X beta, for a variance mu^p with
 * p = 1 (poisson) or p = 2 (gamma).  For rows [start, stop):
 *
 *   eta = X beta + offset,   mu = max(exp(eta), eps)        (R's log link floors mu at eps)
 *   deviance += prior * unit deviance   (p = 1: y (log y - log mu) - (y - mu); p = 2: log mu - log y + y/mu - 1)
 *   z = (y - mu) / mu + eta - offset,   w = prior mu^2 / V(mu)   (the next iteration's working response, weights)
 *
 * with log mu = max(eta, log eps) and log y given (0 where y = 0), or taken here when log_y is NULL
 * (gf_log_response: the caller has checked every y is 0 or in its range), so that a fit keeps no array of it: the
 * per-row formulas of log_link_math.h, whose reference implementation is numpy's (see there).  With eta_known, eta
 * already holds the linear predictor (offset included: IRLS's start) and X is not read.  prior NULL: every prior
 * weight is 1 (not read; a fit without weights keeps no array of ones).  w NULL, for p = 1 with prior NULL only:
 * the working weights are the means themselves (mu^2 / mu is mu), which the caller reads from mu: no second array
 * is written (w is still computed as R does, so that a step whose mu^2 overflows is refused as before).
 * Returns nonzero when an eta is not finite or above 709 (exp would overflow) or z or w is not finite: the caller
 * then discards the outputs and takes numpy's path, which reports or halves the step.  Rows are taken in tiles:
 * X beta first, then a loop without branches that the compiler vectorises, exp and log included (gf_exp,
 * gf_vlog), then the deviance summed in order.
 */
#define TILE 256

/* The elementwise part of gf_log_step for rows [first, first + count); the power and the flags are constants in
 * each inlined copy, and every test is a select or a bitwise or, so that the loop has no branch to stop it
 * vectorising. */
ROW_HELPER int log_step_rows(int64_t first, int64_t count, const int power, const int add_offset,
                             const int logs_here, const int write_w, const double *restrict offset,
                             const double *restrict y, const double *restrict log_y,
                             const double *restrict prior_tile, double *restrict eta, double *restrict mu,
                             double *restrict z, double *restrict w, double *restrict units)
{
    int bad = 0;
    for (int64_t t = 0; t < count; t++) {
        const int64_t i = first + t;
        const double e = add_offset ? eta[i] + offset[i] : eta[i];
        bad |= (int)!(e <= 709.0) | (int)!(e >= -1.7976931348623157e308); /* NaN fails; beyond 709 2^k overflows */
        const double low = e > -38.0 ? e : -38.0;
        const double m_raw = gf_exp(low < 709.0 ? low : 709.0);
        const double m = m_raw > GF_EPS ? m_raw : GF_EPS;
        const double yi = y[i];
        const double ly = logs_here ? gf_log_response(yi) : log_y[i];
        const double unit = gf_log_half_unit_deviance(power, yi, ly, gf_log_mean(e), m);
        const double zi = gf_log_working_response(yi, m, e, offset[i]);
        const double wi = gf_log_working_weight(power, m, prior_tile[t]);
        bad |= (int)!(fabs(zi) <= 1.7976931348623157e308) | (int)!(wi <= 1.7976931348623157e308); /* NaN too */
        eta[i] = e;
        mu[i] = m;
        z[i] = zi;
        if (write_w)
            w[i] = wi;
        units[t] = prior_tile[t] * unit;
    }
    return bad;
}

/* log_step_rows with its constants chosen: each case is its own vectorised copy. */
ROW_HELPER int log_step_tile(int64_t first, int64_t count, int power, int add_offset, int logs_here, int write_w,
                             const double *offset, const double *y, const double *log_y, const double *prior_tile,
                             double *eta, double *mu, double *z, double *w, double *units)
{
#define GF_LOG_STEP_ROWS(P, O, L, W) \
    log_step_rows(first, count, P, O, L, W, offset, y, log_y, prior_tile, eta, mu, z, w, units)
    switch ((power == 1) << 3 | add_offset << 2 | logs_here << 1 | write_w) {
    case 0x0: case 0x2: case 0x4: case 0x6: /* w NULL is for p = 1 only: never here (gf_log_step checks) */
        return 1;
    case 0x1: return GF_LOG_STEP_ROWS(2, 0, 0, 1);
    case 0x3: return GF_LOG_STEP_ROWS(2, 0, 1, 1);
    case 0x5: return GF_LOG_STEP_ROWS(2, 1, 0, 1);
    case 0x7: return GF_LOG_STEP_ROWS(2, 1, 1, 1);
    case 0x8: return GF_LOG_STEP_ROWS(1, 0, 0, 0);
    case 0x9: return GF_LOG_STEP_ROWS(1, 0, 0, 1);
    case 0xa: return GF_LOG_STEP_ROWS(1, 0, 1, 0);
    case 0xb: return GF_LOG_STEP_ROWS(1, 0, 1, 1);
    case 0xc: return GF_LOG_STEP_ROWS(1, 1, 0, 0);
    case 0xd: return GF_LOG_STEP_ROWS(1, 1, 0, 1);
    case 0xe: return GF_LOG_STEP_ROWS(1, 1, 1, 0);
    default: return GF_LOG_STEP_ROWS(1, 1, 1, 1);
    }
#undef GF_LOG_STEP_ROWS
}

MULTIVERSION int gf_log_step(int64_t start, int64_t stop, int64_t pd, int64_t intercept, const double *dense,
                             const double *beta_dense,
                             int64_t n_blocks, const int32_t *const *codes, const double *const *beta_blocks,
                             const double *offset, const double *y, const double *log_y, const double *prior,
                             int64_t power, int64_t eta_known, double *eta, double *mu, double *z, double *w,
                             double *deviance)
{
    double units[TILE], ones[TILE];
    double total = 0.0;
    const int64_t ic = intercept ? 1 : 0;
    const int p = power == 1 ? 1 : 2, logs_here = log_y == NULL, write_w = w != NULL;
    int bad = 0;
    if (!write_w && (p != 1 || prior != NULL))
        return 1; /* the means are the working weights only for p = 1 without prior weights */
    for (int64_t t = 0; t < TILE; t++)
        ones[t] = 1.0;
    for (int64_t first = start; first < stop; first += TILE) {
        const int64_t count = stop - first < TILE ? stop - first : TILE;
        const double *pt = prior ? prior + first : ones;
        for (int64_t i = first; i < first + count && !eta_known; i++)
            eta[i] = row_dot(i, pd, ic, dense, beta_dense, n_blocks, codes, beta_blocks, NULL);
        bad |= log_step_tile(first, count, p, !eta_known, logs_here, write_w, offset, y, log_y, pt, eta, mu, z, w,
                             units);
        for (int64_t t = 0; t < count; t++)
            total += units[t];
    }
    *deviance = 2.0 * total;
    return bad;
}

/* The row-major dense block from column arrays, for rows [start, stop): out[i, positions[j]] = columns[j][i],
 * and out[i, intercept] = 1 when intercept >= 0.  Tiles of TILE rows keep the rows being written in cache while
 * each column is read in order (numpy's strided copy of a transposed block is several times slower). */
MULTIVERSION void gf_gather_columns(int64_t start, int64_t stop, int64_t width, int64_t n_columns,
                                    const double *const *columns, const int64_t *positions, int64_t intercept,
                                    double *out)
{
    for (int64_t first = start; first < stop; first += TILE) {
        const int64_t count = stop - first < TILE ? stop - first : TILE;
        double *restrict rows = out + first * width;
        if (intercept >= 0)
            for (int64_t t = 0; t < count; t++)
                rows[t * width + intercept] = 1.0;
        for (int64_t j = 0; j < n_columns; j++) {
            const double *restrict column = columns[j] + first;
            const int64_t position = positions[j];
            for (int64_t t = 0; t < count; t++)
                rows[t * width + position] = column[t];
        }
    }
}

static struct PyModuleDef kernels_module = {PyModuleDef_HEAD_INIT, "_kernels",
                                            "Row-pass kernels, loaded with ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
