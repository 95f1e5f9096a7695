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
 * and X beta = D beta_D + beta_k[c_ki] summed over blocks.  Each row is read
 * once; the accumulators are small enough to stay in cache.  The functions take
 * plain pointers (called through ctypes, which releases the GIL, so that row
 * ranges can run on several threads into separate accumulators).  The module is
 * importable but has no Python methods: glmformula/design/kernels.py loads it.
 */
#include <Python.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict /* MSVC's C compiler spells C99's restrict this way */
#endif

#define MAX_DENSE 64 /* the kernels refuse wider dense blocks (the caller takes numpy's path) */

/* With GCC on x86-64 Linux, each entry point is also compiled for AVX2 + FMA and the best version is chosen
 * when the library loads; elsewhere the baseline build is used. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

/* gram += sum over 4 rows of w_r x_r x_r' (upper triangle): four rows per read-modify-write of gram */
static void add_dense_rows4(int64_t pd, const double *restrict x0, const double *restrict w, double *restrict gram)
{
    const double *x1 = x0 + pd, *x2 = x1 + pd, *x3 = x2 + pd;
    for (int64_t a = 0; a < pd; a++) {
        double *restrict row = gram + a * pd;
        const double u0 = w[0] * x0[a], u1 = w[1] * x1[a], u2 = w[2] * x2[a], u3 = w[3] * x3[a];
        for (int64_t b = a; b < pd; b++)
            row[b] += u0 * x0[b] + u1 * x1[b] + u2 * x2[b] + u3 * x3[b];
    }
}

static void add_dense_row(int64_t pd, const double *restrict x, double weight, double *restrict gram)
{
    for (int64_t a = 0; a < pd; a++) {
        double *restrict row = gram + a * pd;
        const double u = weight * x[a];
        for (int64_t b = a; b < pd; b++)
            row[b] += u * x[b];
    }
}

/* Everything of one row but its dense cross-product. */
static void add_row_rest(int64_t i, int64_t pd, const double *restrict x, double wi, const double *z,
                         int64_t n_blocks, const int32_t *const *codes, const int64_t *sizes, double *restrict xtw,
                         double *const *diag, double *const *bxtw, double *const *cross, double *const *pairs)
{
    const double wz = z ? wi * z[i] : 0.0;
    if (z)
        for (int64_t a = 0; a < pd; a++)
            xtw[a] += wz * x[a];
    int64_t pair = 0;
    for (int64_t k = 0; k < n_blocks; k++) {
        const int32_t level = codes[k][i];
        if (level >= 0) {
            diag[k][level] += wi;
            if (z)
                bxtw[k][level] += wz;
            double *restrict row = cross[k] + (int64_t)level * pd;
            for (int64_t a = 0; a < pd; a++)
                row[a] += wi * x[a];
        }
        for (int64_t l = k + 1; l < n_blocks; l++, pair++) {
            const int32_t other = codes[l][i];
            if (level >= 0 && other >= 0)
                pairs[pair][(int64_t)level * sizes[l] + other] += wi;
        }
    }
}

/* The products of rows [start, stop), added to the accumulators (z may be NULL: no X'Wz). */
MULTIVERSION int gf_products(int64_t start, int64_t stop, int64_t pd, const double *dense, const double *w, const double *z,
                int64_t n_blocks, const int32_t *const *codes, const int64_t *sizes,
                double *gram, double *xtw, double *const *diag, double *const *bxtw, double *const *cross,
                double *const *pairs)
{
    if (pd > MAX_DENSE)
        return -1;
    int64_t i = start;
    for (; i + 4 <= stop; i += 4) {
        add_dense_rows4(pd, dense + i * pd, w + i, gram);
        for (int64_t r = i; r < i + 4; r++)
            add_row_rest(r, pd, dense + r * pd, w[r], z, n_blocks, codes, sizes, xtw, diag, bxtw, cross, pairs);
    }
    for (; i < stop; i++) {
        add_dense_row(pd, dense + i * pd, w[i], gram);
        add_row_rest(i, pd, dense + i * pd, w[i], z, n_blocks, codes, sizes, xtw, diag, bxtw, cross, pairs);
    }
    return 0;
}

/* X'v of rows [start, stop), added to xtw (pd) and bxtw (one table per block). */
MULTIVERSION void gf_xtw(int64_t start, int64_t stop, int64_t pd, const double *dense, const double *v, int64_t n_blocks,
            const int32_t *const *codes, double *xtw, double *const *bxtw)
{
    for (int64_t i = start; i < stop; i++) {
        const double *x = dense + i * pd;
        const double vi = v[i];
        for (int64_t a = 0; a < pd; a++)
            xtw[a] += vi * x[a];
        for (int64_t k = 0; k < n_blocks; k++) {
            const int32_t level = codes[k][i];
            if (level >= 0)
                bxtw[k][level] += vi;
        }
    }
}

/* eta[i] = D[i] . beta_dense + sum_k beta_k[c_ki] for rows [start, stop). */
MULTIVERSION void gf_dot(int64_t start, int64_t stop, int64_t pd, const double *dense, const double *beta_dense,
            int64_t n_blocks, const int32_t *const *codes, const double *const *beta_blocks, double *eta)
{
    for (int64_t i = start; i < stop; i++) {
        const double *x = dense + i * pd;
        double value = 0.0;
        for (int64_t a = 0; a < pd; a++)
            value += x[a] * beta_dense[a];
        for (int64_t k = 0; k < n_blocks; k++) {
            const int32_t level = codes[k][i];
            if (level >= 0)
                value += beta_blocks[k][level];
        }
        eta[i] = value;
    }
}

static struct PyModuleDef kernels_module = {PyModuleDef_HEAD_INIT, "_kernels",
                                            "Row-pass kernels, loaded with ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
