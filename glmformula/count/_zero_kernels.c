/*
 * One pass over the rows of a zero-inflated model (or of a binary logit model) that gives its log-likelihood,
 * score and observed information from the parameters: X beta and Z gamma, the per-row derivatives of the
 * mixture log-likelihood (glmformula/count/row_models.py: the numpy reference, whose formulas and operation
 * order this follows) and the design products X'(w s), X' diag(-w h) X, X' diag(-w h) Z, ... summed in the
 * same pass, so that no array the data's length is written (glmformula/count/zero_kernels.py calls it).
 *
 * A design is read row by row as a list of (parameter index, value) entries: one per categorical block whose
 * code is not -1 (the value 1, or the block's value of the row) and one per dense column.  A row's entries of
 * all designs, in order, are e_1..e_m; the pass adds
 *
 *     gradient[i_e]          += w s_d v_e                     (e of design d)
 *     information[i_e, i_f]  += -w h_dd' v_e v_f              (e before f; each unordered pair once)
 *     information[i_e, P-1]  += -w h_dt v_e                   (log theta, when free)
 *     sums                   += w l, w s_t, w h_tt
 *
 * (the information into small accumulators around the largest categorical block, see gf_information below;
 * the caller assembles and symmetrises them).  Rows go in tiles: the linear predictors and the row model's
 * derivatives first, then the products, the dense columns' as sums over the tile's rows.
 *
 * Models: 0 zero-inflated (designs X, Z; y the counts, k the counts as integers for the tables of
 * lgamma(y + theta) - lgamma(theta), log y!, and the digamma and trigamma differences), 1 binary (one
 * design; y the 0/1 indicator).  The zero part's link is the logit (R's clamps beyond |eta| > 30).  Count
 * distributions: 0 poisson, 1 negative binomial (log theta a parameter), 2 geometric (theta = 1).
 * EM's per-row work (gf_zero_em_working) and its Newton step in log theta (gf_nb_theta_sums) are here too.
 * Plain pointers, called through ctypes; the module has no Python methods.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "log_link_math.h" /* glmformula/families (setup.py): gf_add_compensated, GF_EPS, GF_MULTIVERSION */

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict
#endif

/* Each entry point is also compiled for AVX2 + FMA where GCC can (GF_MULTIVERSION, log_link_math.h); helpers are
 * inlined into each, so that they take its instruction set. */
#define MULTIVERSION GF_MULTIVERSION
#define ROW_HELPER GF_LOG_LINK_INLINE

#define LOGIT_THRESHOLD 30.0

typedef struct {
    int64_t n_dense;
    const double *dense;          /* row-major (n, n_dense) */
    const int64_t *dense_index;   /* parameter index of each dense column */
    int64_t n_blocks;
    const int32_t *const *codes;  /* per block: the block column of each row, -1 for none */
    const double *const *values;  /* per block: the row's value, or NULL for 1 */
    const int64_t *const *block_index; /* per block: parameter index of each block column */
    const double *offset;         /* (n,) */
} gf_design;

typedef struct {
    const double *y;
    const int64_t *counts;     /* y as integers (model 0) */
    const double *weights;     /* NULL: all 1 */
    double theta;
    int64_t dist;              /* 0 poisson, 1 negbin, 2 geometric */
    const double *lgamma_diff; /* tables indexed by the count, for this theta */
    const double *log_factorial;
    const double *digamma_diff;
    const double *trigamma_diff;
    double log_theta;          /* set by the pass */
} gf_rows;

/* Per-row log-likelihood and derivatives: parts 0 and 1, t = log theta. */
typedef struct {
    double l, s0, s1, st, h00, h01, h11, h0t, h1t, htt;
} gf_derivatives;

/* (pi, pi', pi'') of the logit at eta, as link_derivatives.inverse_and_mu_eta and _logit. */
ROW_HELPER void logit_inverse(double eta, double *pi, double *dpi, double *d2pi)
{
    const double clipped = eta < -LOGIT_THRESHOLD ? -LOGIT_THRESHOLD : (eta > LOGIT_THRESHOLD ? LOGIT_THRESHOLD : eta);
    const double e = exp(clipped);
    const double total = 1.0 + e;
    double p = e / total, d = e / (total * total);
    if (eta < -LOGIT_THRESHOLD) {
        p = GF_EPS / (1.0 + GF_EPS);
        d = GF_EPS;
    } else if (eta > LOGIT_THRESHOLD) {
        p = (1.0 / GF_EPS) / (1.0 + 1.0 / GF_EPS);
        d = GF_EPS;
    }
    *pi = p;
    *dpi = d;
    *d2pi = d * (1.0 - 2.0 * p);
}

/* log f(y) and its derivatives (distributions.py: Poisson.derivatives, NegBin.derivatives), and L0 = log f(0) and
 * its derivatives (zero_derivatives): c_* and z_* (a, t = log theta).  log mu is taken as eta (numpy: log(exp(eta)),
 * the same to rounding). */
typedef struct {
    double l, a, t, aa, at, tt;
} gf_count;

/* The negative binomial's terms of log f(y) in t = log theta at a row (NegBin.derivatives): c->t when order >= 1,
 * c->at and c->tt when order >= 2, the others 0; inverse = 1 / (mu + theta) and log_total = log(mu + theta). */
ROW_HELPER void count_theta_terms(const gf_rows *rows, int64_t i, double mu, double inverse, double log_total,
                                  int order, gf_count *c)
{
    const double theta = rows->theta, y = rows->y[i];
    const int64_t k = rows->counts[i];
    c->t = c->at = c->tt = 0.0;
    if (order >= 1)
        c->t = theta * (rows->digamma_diff[k] + rows->log_theta - log_total + 1.0 - (y + theta) * inverse);
    if (order >= 2) {
        const double inverse2 = inverse * inverse;
        c->at = theta * mu * (y - mu) * inverse2;
        const double slope = rows->trigamma_diff[k] + 1.0 / theta - inverse - (mu - y) * inverse2;
        c->tt = c->t + (theta * theta) * slope;
    }
}

ROW_HELPER void count_terms(const gf_rows *rows, int64_t i, double mu, double log_mu, int order, int zero_only,
                               gf_count *c, gf_count *z)
{
    const double theta = rows->theta;
    if (rows->dist == 0) {
        const double y = rows->y[i];
        z->l = -mu;
        z->a = -mu;
        z->aa = -mu;
        z->t = z->at = z->tt = 0.0;
        if (!zero_only) {
            c->l = (y == 0.0 ? 0.0 : y * log_mu) - mu - rows->log_factorial[rows->counts[i]];
            c->a = y - mu;
            c->aa = -mu;
            c->t = c->at = c->tt = 0.0;
        }
        return;
    }
    const int free_theta = rows->dist == 1;
    const double inverse = 1.0 / (mu + theta);
    const double log_total = log(mu + theta), log_theta = rows->log_theta;
    if (zero_only) {
        const double log_ratio = log_theta - log_total;
        z->l = theta * log_ratio;
        z->a = z->t = z->aa = z->at = z->tt = 0.0;
        if (order >= 1) {
            z->a = -theta * mu * inverse;
            if (free_theta)
                z->t = theta * (log_ratio + mu * inverse);
        }
        if (order >= 2) {
            const double mu_inverse2 = mu * (inverse * inverse);
            z->aa = -(theta * theta) * mu_inverse2;
            if (free_theta) {
                z->at = -theta * mu * mu_inverse2;
                z->tt = z->t + theta * mu * mu_inverse2;
            }
        }
        return;
    }
    const double y = rows->y[i];
    const int64_t k = rows->counts[i];
    c->l = rows->lgamma_diff[k] - rows->log_factorial[k] + theta * log_theta + (y == 0.0 ? 0.0 : y * log_mu)
           - (theta + y) * log_total;
    c->a = c->aa = 0.0;
    if (order >= 1)
        c->a = theta * (y - mu) * inverse;
    if (order >= 2)
        c->aa = -theta * mu * (theta + y) * (inverse * inverse);
    count_theta_terms(rows, i, mu, inverse, log_total, free_theta ? order : 0, c);
}

/* A zero-inflated row (row_models.ZeroInflatedRows: the positive and the zero rows). */
ROW_HELPER void zero_inflated_row(const gf_rows *rows, int64_t i, double a, double b, int order,
                                     gf_derivatives *d)
{
    double pi, dpi, d2pi;
    gf_count c, z;
    logit_inverse(b, &pi, &dpi, &d2pi);
    const double mu = exp(a);
    memset(d, 0, sizeof *d);
    if (rows->y[i] != 0.0) {
        count_terms(rows, i, mu, a, order, 0, &c, &z);
        d->l = c.l + log1p(-pi);
        d->s0 = c.a;
        d->st = c.t;
        d->s1 = -dpi / (1.0 - pi);
        d->h00 = c.aa;
        d->h0t = c.at;
        d->htt = c.tt;
        d->h11 = -d2pi / (1.0 - pi) - d->s1 * d->s1;
        return;
    }
    count_terms(rows, i, mu, a, order, 1, &c, &z);
    const double p0 = exp(z.l);
    const double density = pi + (1.0 - pi) * p0;
    d->l = log(density);
    if (order == 0)
        return;
    const double r = (1.0 - pi) * p0 / density;
    d->s0 = r * z.a;
    d->st = r * z.t;
    d->s1 = dpi * (1.0 - p0) / density;
    if (order == 1)
        return;
    const double rr = r * (1.0 - r);
    d->h00 = r * z.aa + rr * z.a * z.a;
    d->h0t = r * z.at + rr * z.a * z.t;
    d->htt = r * z.tt + rr * z.t * z.t;
    d->h11 = d2pi * (1.0 - p0) / density - d->s1 * d->s1;
    d->h01 = -dpi * p0 * z.a / density - d->s0 * d->s1;
    d->h1t = -dpi * p0 * z.t / density - d->st * d->s1;
}

/* A binary row with the logit link (row_models.BinaryRows), in part 0. */
ROW_HELPER void binary_row(const gf_rows *rows, int64_t i, double b, gf_derivatives *d)
{
    double pi, dpi, d2pi;
    logit_inverse(b, &pi, &dpi, &d2pi);
    memset(d, 0, sizeof *d);
    if (rows->y[i] != 0.0) {
        const double up = dpi / pi;
        d->l = log(pi);
        d->s0 = up;
        d->h00 = d2pi / pi - up * up;
    } else {
        const double down = dpi / (1.0 - pi);
        d->l = log1p(-pi);
        d->s0 = -down;
        d->h00 = -d2pi / (1.0 - pi) - down * down;
    }
}

/*
 * The information's accumulators: the parameters are split into the levels of one large block B (whose
 * columns never share a row) and the rest S (log theta included, when free), slot[j] = the position of
 * parameter j in S, or -1 - level for a level of B.  A pair of entries adds into
 *
 *     small (|S| x |S|, row-major)   both in S          (the row of the pair's first entry, see below)
 *     table (|B| x |S|, row-major)   one in B, one in S (the level's row)
 *     diagonal (|B|)                 a level of B with itself
 *
 * so that a row's writes stay in a few cache lines of small arrays (a P x P matrix has each level's row on its
 * own page).  The caller symmetrises small.
 */
typedef struct {
    const int64_t *slot;
    int64_t n_small;
    double *small;
    double *table;
    double *diagonal;
} gf_information;

ROW_HELPER void add_pair(const gf_information *info, int64_t se, int64_t sf, double x)
{
    if (se >= 0 && sf >= 0)
        info->small[se * info->n_small + sf] += x;
    else if (se >= 0)
        info->table[(-1 - sf) * info->n_small + se] += x;
    else if (sf >= 0)
        info->table[(-1 - se) * info->n_small + sf] += x;
    else
        info->diagonal[-1 - se] += x; /* the same level: two levels of B never share a row */
}

#define TILE 128
#define MAX_BLOCKS 16 /* blocks over all designs that the pass takes */

/* A tile's per-row quantities: the weights of the products (w s_d, -w h_dd', -w h_dt) and each row's block
 * entries (parameter index, slot, value; index -1 where the code is -1). */
typedef struct {
    double score[2][TILE], pair[3][TILE], with_theta[2][TILE];
    int64_t block_index[MAX_BLOCKS][TILE], block_slot[MAX_BLOCKS][TILE];
    double block_value[MAX_BLOCKS][TILE];
} gf_tile;

/* Row i's linear predictor of design x, its block entries written into the tile at column t from block `first`. */
ROW_HELPER double row_eta(const gf_design *x, int64_t i, const double *params, gf_tile *tile, int64_t first,
                             int64_t t)
{
    double eta = x->offset[i];
    for (int64_t k = 0; k < x->n_blocks; k++) {
        const int32_t level = x->codes[k][i];
        const int64_t j = level >= 0 ? x->block_index[k][level] : -1;
        const double v = x->values[k] ? x->values[k][i] : 1.0;
        if (j >= 0)
            eta += params[j] * v;
        tile->block_index[first + k][t] = j;
        tile->block_value[first + k][t] = v;
    }
    const double *row = x->dense + i * x->n_dense;
    double dot = 0.0;
    for (int64_t a = 0; a < x->n_dense; a++)
        dot += row[a] * params[x->dense_index[a]];
    return eta + dot;
}

/* The index of -w h_de in a tile's pair weights (h00, h01, h11). */
ROW_HELPER int pair_of(int64_t d, int64_t e) { return (int)(d + e); }

/* sum_t weight[t] x_d[t, a] (x_e[t, b] when b >= 0) over a tile's rows of dense columns. */
ROW_HELPER double dense_sum(const gf_design *designs, int64_t first, int64_t count, const double *weight,
                               int64_t d, int64_t a, int64_t e, int64_t b)
{
    const double *x = designs[d].dense + first * designs[d].n_dense + a;
    const int64_t stride = designs[d].n_dense;
    double total = 0.0;
    if (b < 0) {
        for (int64_t t = 0; t < count; t++)
            total += weight[t] * x[t * stride];
        return total;
    }
    const double *y = designs[e].dense + first * designs[e].n_dense + b;
    const int64_t other = designs[e].n_dense;
    for (int64_t t = 0; t < count; t++)
        total += weight[t] * x[t * stride] * y[t * other];
    return total;
}

/* The products of a tile: gradient and, with `information`, the information (see above). */
ROW_HELPER void tile_products(const gf_design *designs, int64_t n_designs, int64_t first, int64_t count,
                          const gf_tile *tile, const int64_t *block_design, int64_t n_blocks, int64_t theta_slot,
                          double *gradient, const gf_information *info)
{
    for (int64_t d = 0; d < n_designs; d++)
        for (int64_t a = 0; a < designs[d].n_dense; a++)
            gradient[designs[d].dense_index[a]] += dense_sum(designs, first, count, tile->score[d], d, a, 0, -1);
    for (int64_t k = 0; k < n_blocks; k++)
        for (int64_t t = 0; t < count; t++)
            if (tile->block_index[k][t] >= 0)
                gradient[tile->block_index[k][t]] += tile->score[block_design[k]][t] * tile->block_value[k][t];
    if (!info)
        return;
    /* dense with dense (each pair once), and with log theta */
    for (int64_t d = 0; d < n_designs; d++)
        for (int64_t a = 0; a < designs[d].n_dense; a++) {
            const int64_t sa = info->slot[designs[d].dense_index[a]];
            for (int64_t e = d; e < n_designs; e++)
                for (int64_t b = e == d ? a : 0; b < designs[e].n_dense; b++)
                    add_pair(info, sa, info->slot[designs[e].dense_index[b]],
                             dense_sum(designs, first, count, tile->pair[pair_of(d, e)], d, a, e, b));
            if (theta_slot >= 0)
                add_pair(info, sa, theta_slot, dense_sum(designs, first, count, tile->with_theta[d], d, a, 0, -1));
        }
    /* block entries, row by row: with every dense column, the later blocks, themselves and log theta */
    for (int64_t t = 0; t < count; t++) {
        const int64_t i = first + t;
        for (int64_t k = 0; k < n_blocks; k++) {
            const int64_t j = tile->block_index[k][t];
            if (j < 0)
                continue;
            const int64_t dk = block_design[k], sk = info->slot[j];
            const double vk = tile->block_value[k][t];
            for (int64_t e = 0; e < n_designs; e++) {
                const double weight = tile->pair[pair_of(dk, e)][t] * vk;
                const double *row = designs[e].dense + i * designs[e].n_dense;
                for (int64_t b = 0; b < designs[e].n_dense; b++)
                    add_pair(info, sk, info->slot[designs[e].dense_index[b]], weight * row[b]);
            }
            for (int64_t l = k; l < n_blocks; l++) {
                const int64_t jl = tile->block_index[l][t];
                if (jl >= 0)
                    add_pair(info, sk, info->slot[jl],
                             tile->pair[pair_of(dk, block_design[l])][t] * vk * tile->block_value[l][t]);
            }
            if (theta_slot >= 0)
                add_pair(info, sk, theta_slot, tile->with_theta[dk][t] * vk);
        }
    }
}

/*
 * Rows [start, stop) of model `model` over `n_designs` designs (1 or 2), up to `order` (0: the log-likelihood;
 * 1: and the score; 2: and the information).  Adds into sums (6: l, s_t, h_tt, each with its compensation),
 * gradient (P) when order >= 1 and the information's accumulators when order >= 2; log theta is parameter
 * theta_index (-1: none).  Rows go in tiles: the linear predictors and the row model's derivatives first, then
 * the products, the dense columns' as sums over the tile's rows.  Returns 0, or -1 when the designs have more
 * than MAX_BLOCKS blocks.
 */
MULTIVERSION int gf_zero_pass(int64_t start, int64_t stop, int64_t model, int64_t order, int64_t n_designs,
                 const gf_design *designs, const gf_rows *rows, const double *params,
                 int64_t theta_index, double *sums, double *gradient, const gf_information *info)
{
    int64_t block_design[MAX_BLOCKS], n_blocks = 0;
    for (int64_t d = 0; d < n_designs; d++)
        for (int64_t k = 0; k < designs[d].n_blocks; k++) {
            if (n_blocks == MAX_BLOCKS)
                return -1;
            block_design[n_blocks++] = d;
        }
    gf_tile tile;
    gf_rows local = *rows;
    local.log_theta = log(local.theta);
    const double *weights = local.weights;
    const int64_t theta_slot = theta_index >= 0 && order >= 2 ? info->slot[theta_index] : -1;
    double l = 0.0, l_carry = 0.0, st = 0.0, st_carry = 0.0, htt = 0.0, htt_carry = 0.0;
    for (int64_t first = start; first < stop; first += TILE) {
        const int64_t count = stop - first < TILE ? stop - first : TILE;
        for (int64_t t = 0; t < count; t++) {
            const int64_t i = first + t;
            double eta[2] = {0.0, 0.0};
            for (int64_t d = 0, k = 0; d < n_designs; k += designs[d].n_blocks, d++)
                eta[d] = row_eta(&designs[d], i, params, &tile, k, t);
            gf_derivatives r;
            if (model == 0)
                zero_inflated_row(&local, i, eta[0], eta[1], (int)order, &r);
            else
                binary_row(&local, i, eta[0], &r);
            const double w = weights ? weights[i] : 1.0;
            gf_add_compensated(&l, &l_carry, weights ? w * r.l : r.l);
            if (order < 1)
                continue;
            tile.score[0][t] = weights ? w * r.s0 : r.s0;
            tile.score[1][t] = weights ? w * r.s1 : r.s1;
            if (theta_index >= 0)
                gf_add_compensated(&st, &st_carry, weights ? w * r.st : r.st);
            if (order < 2)
                continue;
            tile.pair[0][t] = weights ? -w * r.h00 : -r.h00;
            tile.pair[1][t] = weights ? -w * r.h01 : -r.h01;
            tile.pair[2][t] = weights ? -w * r.h11 : -r.h11;
            tile.with_theta[0][t] = weights ? -w * r.h0t : -r.h0t;
            tile.with_theta[1][t] = weights ? -w * r.h1t : -r.h1t;
            if (theta_index >= 0)
                gf_add_compensated(&htt, &htt_carry, weights ? w * r.htt : r.htt);
        }
        if (order >= 1)
            tile_products(designs, n_designs, first, count, &tile, block_design, n_blocks, theta_slot, gradient,
                          order >= 2 ? info : NULL);
    }
    sums[0] += l;
    sums[1] += l_carry;
    sums[2] += st;
    sums[3] += st_carry;
    sums[4] += htt;
    sums[5] += htt_carry;
    return 0;
}

/*
 * EM's per-row work (glmformula/count/em.py, the numpy reference): with z the posterior probability of a
 * structural zero at (a, b) = (eta_count, eta_zero), for rows [start, stop), as `part` says:
 *
 *   0 (count)   w_out = prior (1 - z) c,  z_out = a - offset + s / c    (s, -c: d/d eta, d^2/d eta^2 of log f)
 *   1 (zero)    w_out = prior pi'^2 / (pi (1 - pi)),  z_out = b - offset + (z - pi) / pi'
 *   2 (theta)   w_out = prior (1 - z)
 *
 * with the logit zero link and dist 0 poisson, 1 negative binomial, 2 geometric (theta = 1).
 */
MULTIVERSION void gf_zero_em_working(int64_t start, int64_t stop, int64_t part, int64_t dist, double theta, const double *y,
                        const double *a, const double *b, const double *offset, const double *prior, double *w_out,
                        double *z_out)
{
    const double log_theta = log(theta);
    for (int64_t i = start; i < stop; i++) {
        double pi, dpi, d2pi;
        logit_inverse(b[i], &pi, &dpi, &d2pi);
        const double mu = exp(a[i]), yi = y[i];
        const double log_p0 = dist == 0 ? -mu : theta * (log_theta - log(theta + mu));
        const double p0 = exp(log_p0);
        const double z = yi == 0.0 ? pi / (pi + (1.0 - pi) * p0) : 0.0;
        const double w = prior ? prior[i] : 1.0;
        if (part == 0) {
            double score, curvature;
            if (dist == 0) {
                score = yi - mu;
                curvature = mu;
            } else {
                const double total = mu + theta;
                score = theta * (yi - mu) / total;
                curvature = theta * mu * (theta + yi) / (total * total);
            }
            w_out[i] = w * (1.0 - z) * curvature;
            z_out[i] = a[i] - offset[i] + score / curvature;
        } else if (part == 1) {
            w_out[i] = w * (dpi * dpi) / (pi * (1.0 - pi));
            z_out[i] = b[i] - offset[i] + (z - pi) / dpi;
        } else {
            w_out[i] = w * (1.0 - z);
        }
    }
}

/*
 * sum w s_t and sum w h_tt of the negative binomial's log f(y; mu, theta) in t = log theta over rows
 * [start, stop) (distributions.NegBin.derivatives; the digamma and trigamma differences from tables by count),
 * added into sums[0..3] (each with its compensation): EM's Newton step in log theta.
 */
MULTIVERSION void gf_nb_theta_sums(int64_t start, int64_t stop, double theta, const double *y, const int64_t *counts,
                      const double *mu, const double *weights, const double *digamma_diff,
                      const double *trigamma_diff, double *sums)
{
    const gf_rows rows = {.y = y, .counts = counts, .theta = theta, .dist = 1, .digamma_diff = digamma_diff,
                          .trigamma_diff = trigamma_diff, .log_theta = log(theta)};
    double st = 0.0, st_carry = 0.0, htt = 0.0, htt_carry = 0.0;
    for (int64_t i = start; i < stop; i++) {
        gf_count c;
        count_theta_terms(&rows, i, mu[i], 1.0 / (mu[i] + theta), log(mu[i] + theta), 2, &c);
        gf_add_compensated(&st, &st_carry, weights[i] * c.t);
        gf_add_compensated(&htt, &htt_carry, weights[i] * c.tt);
    }
    sums[0] += st;
    sums[1] += st_carry;
    sums[2] += htt;
    sums[3] += htt_carry;
}

static struct PyModuleDef zero_kernels_module = {PyModuleDef_HEAD_INIT, "_zero_kernels",
                                                 "Zero-inflated models' row passes, loaded with ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__zero_kernels(void) { return PyModule_Create(&zero_kernels_module); }
