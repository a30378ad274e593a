/*
 * synth.c -- cairn-synth, the synthetic-data generator that the demo, the
 * benchmark and the tests use. Standalone: only the C library and libm, no
 * libcairn, so it can build and run before anything else works.
 *
 *   cairn-synth churn --rows N --seed S [--start YYYY-MM-DD] [--days D] [-o FILE]
 *       a customer-churn table with an id, a signup time, numbers,
 *       categories, a bool, missing values, a label from a logistic model,
 *       and a deliberate shift for signups from 2025-07-01 on (see
 *       docs/demo-data.md for every column and the shift).
 *   cairn-synth wide --rows N --seed S [-o FILE]
 *       the 30-column benchmark table (12 float, 8 int, 6 categorical,
 *       2 timestamp, 1 bool, 1 id), about 300 bytes a row.
 *
 * The output is a function of the arguments only: the random numbers come
 * from our own xoshiro256** generator seeded through splitmix64 (never
 * rand()), numbers are formatted by integer arithmetic with a fixed number
 * of decimals (no printf, no locale), and rows are written through a large
 * buffer so a million wide rows take a few seconds at most. The draws that
 * go through libm (log, exp, cos) give the same bits wherever the C library
 * is the same; the fixed decimals hide last-bit differences elsewhere in
 * all but the rarest rounding ties.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_IO 4
#define OUT_BUF_BYTES (1u << 20)
#define TWO_PI 6.283185307179586476925286766559

/* ---- random numbers --------------------------------------------------------- */

/* xoshiro256** (Blackman and Vigna, 2018), state seeded by splitmix64. */
typedef struct rng {
    uint64_t s[4];
    bool has_spare;   /* Box-Muller gives normals in pairs */
    double spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = false;
    r->spare = 0.0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), 0 < n < 2^53. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    uint64_t k = (uint64_t)(rng_unif(r) * (double)n);
    return k < n ? k : n - 1;
}

static bool rng_bernoulli(rng *r, double p) { return rng_unif(r) < p; }

/* Standard normal by the Box-Muller transform. */
static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = rng_unif(r), u2 = rng_unif(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    double rad = sqrt(-2.0 * log(u1));
    r->spare = rad * sin(TWO_PI * u2);
    r->has_spare = true;
    return rad * cos(TWO_PI * u2);
}

static double rng_exp(rng *r, double mean) { return -mean * log(1.0 - rng_unif(r)); }

/* Poisson by Knuth's product of uniforms; fine for the small means used here. */
static int rng_poisson(rng *r, double lambda)
{
    double limit = exp(-lambda), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= rng_unif(r);
    } while (p > limit && k < 1000);
    return k - 1;
}

/* Index drawn from weights w[0..n) that sum to about 1 (the last takes the rest). */
static int rng_pick(rng *r, const double *w, int n)
{
    double u = rng_unif(r), acc = 0.0;
    for (int i = 0; i < n - 1; i++) {
        acc += w[i];
        if (u < acc)
            return i;
    }
    return n - 1;
}

/* ---- buffered output ------------------------------------------------------------ */

typedef struct out {
    FILE *f;
    char *buf;
    size_t len;
    bool failed;
} out;

static void out_flush(out *o)
{
    if (o->len && !o->failed && fwrite(o->buf, 1, o->len, o->f) != o->len)
        o->failed = true;
    o->len = 0;
}

/* Makes room for n more bytes (n is small: one field). */
static char *out_room(out *o, size_t n)
{
    if (o->len + n > OUT_BUF_BYTES)
        out_flush(o);
    return o->buf + o->len;
}

static void out_mem(out *o, const char *s, size_t n)
{
    if (n > OUT_BUF_BYTES / 2) {
        out_flush(o);
        if (!o->failed && fwrite(s, 1, n, o->f) != n)
            o->failed = true;
        return;
    }
    memcpy(out_room(o, n), s, n);
    o->len += n;
}

static void out_str(out *o, const char *s) { out_mem(o, s, strlen(s)); }

static void out_chr(out *o, char c)
{
    *out_room(o, 1) = c;
    o->len++;
}

static void out_u64(out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char *p = out_room(o, (size_t)n);
    for (int i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    o->len += (size_t)n;
}

static void out_i64(out *o, int64_t v)
{
    if (v < 0) {
        out_chr(o, '-');
        out_u64(o, (uint64_t)0 - (uint64_t)v);
    } else {
        out_u64(o, (uint64_t)v);
    }
}

/* v rounded to `dec` decimals (0..9), e.g. 12.5 with 2 -> "12.50"; |v| below 1e9. */
static void out_fixed(out *o, double v, int dec)
{
    static const uint64_t p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                   100000000, 1000000000};
    double a = fabs(v);
    if (a > 1e9)
        a = 1e9;
    uint64_t scaled = (uint64_t)(a * (double)p10[dec] + 0.5);
    uint64_t ip = scaled / p10[dec], fp = scaled % p10[dec];
    if (v < 0 && scaled)
        out_chr(o, '-');
    out_u64(o, ip);
    if (dec > 0) {
        char *p = out_room(o, (size_t)dec + 1);
        p[0] = '.';
        for (int i = dec; i >= 1; i--) {
            p[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        o->len += (size_t)dec + 1;
    }
}

/* ---- dates ------------------------------------------------------------------------ */

/* Days since 1970-01-01 <-> proleptic Gregorian dates (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* Seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (years 1000..9999). */
static void out_time(out *o, int64_t sec)
{
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    int64_t rem = sec - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char *p = out_room(o, 20);
    put2(p, (unsigned)(y / 100));
    put2(p + 2, (unsigned)(y % 100));
    p[4] = '-';
    put2(p + 5, m);
    p[7] = '-';
    put2(p + 8, d);
    p[10] = 'T';
    put2(p + 11, (unsigned)(rem / 3600));
    p[13] = ':';
    put2(p + 14, (unsigned)(rem / 60 % 60));
    p[16] = ':';
    put2(p + 17, (unsigned)(rem % 60));
    p[19] = 'Z';
    o->len += 20;
}

/* Parses "YYYY-MM-DD" into days since the epoch. */
static bool parse_date(const char *s, int64_t *days)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return false;
    if (y < 1000 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    int64_t z = days_from_civil(y, (unsigned)m, (unsigned)d);
    int64_t yy;
    unsigned mm, dd;
    civil_from_days(z, &yy, &mm, &dd);
    if (yy != y || (int)mm != m || (int)dd != d)  /* 2025-02-30 and the like */
        return false;
    *days = z;
    return true;
}

/* ---- the churn table -------------------------------------------------------------- */

typedef struct churn_opts {
    uint64_t rows, seed;
    int64_t start_day;  /* days since the epoch */
    int64_t days;
} churn_opts;

#define N_REGION 6
#define N_PLAN 3
#define N_CONTRACT 3
#define N_PAY 4
#define N_DEVICE 5

static const char *const region_names[N_REGION] = {"north", "south", "east", "west", "central", "metro"};
static const double region_w[N_REGION] = {0.18, 0.17, 0.15, 0.14, 0.12, 0.24};
static const char *const plan_names[N_PLAN] = {"basic", "standard", "premium"};
static const double plan_w[N_PLAN] = {0.45, 0.35, 0.20};
static const double plan_price[N_PLAN] = {29.99, 54.99, 89.99};
static const double plan_usage_gb[N_PLAN] = {4.0, 12.0, 35.0}; /* median monthly usage */
static const char *const contract_names[N_CONTRACT] = {"month-to-month", "one-year", "two-year"};
static const double contract_w[N_CONTRACT] = {0.50, 0.30, 0.20};
static const char *const pay_names[N_PAY] = {"electronic_check", "mailed_check", "bank_transfer",
                                             "credit_card"};
static const double pay_w_before[N_PAY] = {0.30, 0.20, 0.25, 0.25};
static const double pay_w_after[N_PAY] = {0.45, 0.10, 0.20, 0.25};
/* smart_tv (index 4) only exists from the shift on. */
static const char *const device_names[N_DEVICE] = {"android", "ios", "web", "desktop", "smart_tv"};
static const double device_w_before[N_DEVICE] = {0.40, 0.35, 0.15, 0.10, 0.0};
static const double device_w_after[N_DEVICE] = {0.33, 0.30, 0.12, 0.08, 0.17};

/*
 * The label's log-odds. Intercept chosen so that about a quarter of the
 * customers before the shift churn (and somewhat more after it, when prices
 * rise); the other weights give each feature a clear, documented effect.
 */
#define CHURN_INTERCEPT (-1.8)

static double churn_logit(int contract, int tenure, int calls, double monthly, int plan, int pay,
                          int age)
{
    double z = CHURN_INTERCEPT;
    z += contract == 0 ? 1.40 : contract == 2 ? -1.40 : 0.0;
    z += -0.050 * tenure;
    z += 0.40 * calls;
    z += 0.025 * (monthly - 55.0);
    z += plan == 0 ? 0.35 : plan == 2 ? -0.25 : 0.0;
    z += pay == 0 ? 0.30 : 0.0;
    z += age < 25 ? 0.25 : 0.0;
    return z;
}

static int churn_write(const churn_opts *co, out *o)
{
    rng r;
    rng_seed(&r, co->seed ^ 0x636875726e000000ull); /* "churn" */
    const int64_t shift_sec = days_from_civil(2025, 7, 1) * 86400;
    const int64_t start_sec = co->start_day * 86400;
    const double span_sec = (double)co->days * 86400.0;
    /*
     * Customer numbers continue from the window's start (1000 a day), so a
     * later batch made with --start has ids of its own.
     */
    const uint64_t first_id =
        1 + (co->start_day > days_from_civil(2024, 1, 1)
                 ? (uint64_t)(co->start_day - days_from_civil(2024, 1, 1)) * 1000
                 : 0);

    out_str(o, "customer_id,signup_time,age,region,plan,contract,payment_method,"
               "paperless_billing,device,tenure_months,monthly_charges,total_charges,"
               "support_calls,data_usage_gb,churned\n");
    for (uint64_t i = 0; i < co->rows; i++) {
        /* Evenly spread, jittered, never decreasing: row i lies in slot i of rows. */
        int64_t t = start_sec + (int64_t)(((double)i + rng_unif(&r)) * span_sec / (double)co->rows);
        bool after = t >= shift_sec;

        int age = (int)lround(44.0 + 14.0 * rng_normal(&r));
        age = age < 18 ? 18 : age > 85 ? 85 : age;
        int region = rng_pick(&r, region_w, N_REGION);
        bool region_missing = rng_bernoulli(&r, 0.01);
        int plan = rng_pick(&r, plan_w, N_PLAN);
        int contract = rng_pick(&r, contract_w, N_CONTRACT);
        int pay = rng_pick(&r, after ? pay_w_after : pay_w_before, N_PAY);
        bool paperless = rng_bernoulli(&r, pay == 0 || pay == 3 ? 0.75 : 0.45);
        int device = rng_pick(&r, after ? device_w_after : device_w_before, N_DEVICE);

        /* Longer contracts go with longer tenure. */
        double ten = contract == 0 ? rng_exp(&r, 14.0)
                     : contract == 1 ? 6.0 + 42.0 * rng_unif(&r)
                                     : 12.0 + 60.0 * rng_unif(&r);
        int tenure = (int)ten;
        tenure = tenure > 72 ? 72 : tenure;

        double monthly = plan_price[plan] + 6.0 * rng_normal(&r) + (paperless ? 0.0 : 2.0);
        if (after)
            monthly *= 1.15; /* the price rise */
        monthly = monthly < 10.0 ? 10.0 : monthly;
        monthly = round(monthly * 100.0) / 100.0;
        double total = tenure == 0 ? monthly : tenure * monthly * (0.92 + 0.12 * rng_unif(&r));
        bool total_missing = rng_bernoulli(&r, 0.03);

        int calls = rng_poisson(&r, 0.8 + (plan == 0 ? 0.7 : 0.0) + (contract == 0 ? 0.3 : 0.0));
        double usage = plan_usage_gb[plan] * exp(0.6 * rng_normal(&r)) * (after ? 1.30 : 1.0);
        bool usage_missing = rng_bernoulli(&r, 0.02);

        double z = churn_logit(contract, tenure, calls, monthly, plan, pay, age) +
                   0.5 * rng_normal(&r); /* what the features do not explain */
        bool churned = rng_unif(&r) < 1.0 / (1.0 + exp(-z));

        out_chr(o, 'C');
        char idbuf[24];
        int n = snprintf(idbuf, sizeof idbuf, "%07llu", (unsigned long long)(first_id + i));
        out_mem(o, idbuf, (size_t)n);
        out_chr(o, ',');
        out_time(o, t);
        out_chr(o, ',');
        out_i64(o, age);
        out_chr(o, ',');
        if (!region_missing)
            out_str(o, region_names[region]);
        out_chr(o, ',');
        out_str(o, plan_names[plan]);
        out_chr(o, ',');
        out_str(o, contract_names[contract]);
        out_chr(o, ',');
        out_str(o, pay_names[pay]);
        out_chr(o, ',');
        out_str(o, paperless ? "true" : "false");
        out_chr(o, ',');
        out_str(o, device_names[device]);
        out_chr(o, ',');
        out_i64(o, tenure);
        out_chr(o, ',');
        out_fixed(o, monthly, 2);
        out_chr(o, ',');
        if (!total_missing)
            out_fixed(o, total, 2);
        out_chr(o, ',');
        out_i64(o, calls);
        out_chr(o, ',');
        if (!usage_missing)
            out_fixed(o, usage, 2);
        out_chr(o, ',');
        out_str(o, churned ? "Yes" : "No");
        out_chr(o, '\n');
    }
    return 0;
}

/* ---- the wide benchmark table --------------------------------------------------- */

/* A categorical column: `card` levels named prefix + zero-padded number, skewed draws. */
typedef struct cat_col {
    char *names;        /* card strings of `width` bytes each, not NUL-terminated */
    size_t width;
    uint32_t card;
    double skew;        /* level = floor(card * u^skew): higher skew, more mass on low levels */
} cat_col;

static bool cat_init(cat_col *c, const char *prefix, uint32_t card, double skew)
{
    int digits = 1;
    for (uint32_t v = card - 1; v >= 10; v /= 10)
        digits++;
    c->width = strlen(prefix) + (size_t)digits;
    c->card = card;
    c->skew = skew;
    c->names = malloc((size_t)card * (c->width + 1));
    if (!c->names)
        return false;
    for (uint32_t i = 0; i < card; i++)
        snprintf(c->names + (size_t)i * c->width, c->width + 1, "%s%0*u", prefix, digits, i);
    return true;
}

static void out_cat(out *o, rng *r, const cat_col *c)
{
    uint32_t k = (uint32_t)((double)c->card * pow(rng_unif(r), c->skew));
    if (k >= c->card)
        k = c->card - 1;
    out_mem(o, c->names + (size_t)k * c->width, c->width);
}

static const char *const wide_header =
    "row_id,event_time,f01,f02,f03,f04,f05,f06,f07,f08,f09,f10,f11,f12,"
    "i01,i02,i03,i04,i05,i06,i07,i08,c01,c02,c03,c04,c05,c06,updated_time,active\n";

static int wide_write(uint64_t rows, uint64_t seed, out *o)
{
    rng r;
    rng_seed(&r, seed ^ 0x77696465000000ull); /* "wide" */
    enum { N_CAT = 6 };
    cat_col cats[N_CAT];
    static const char *const prefix[N_CAT] = {"tier_", "region_group_", "market_segment_",
                                              "city_name_", "product_sku_", "account_user_"};
    static const uint32_t card[N_CAT] = {5, 20, 100, 1000, 5000, 10000};
    static const double skew[N_CAT] = {1.0, 1.5, 2.0, 2.0, 2.5, 3.0};
    int rc = 0;
    memset(cats, 0, sizeof cats);
    for (int j = 0; j < N_CAT; j++)
        if (!cat_init(&cats[j], prefix[j], card[j], skew[j])) {
            fprintf(stderr, "cairn-synth: error: out of memory\n");
            rc = EXIT_IO;
            goto done;
        }

    const int64_t start = days_from_civil(2023, 1, 1) * 86400;
    const double span = 2.0 * 365.0 * 86400.0;
    out_str(o, wide_header);
    for (uint64_t i = 0; i < rows; i++) {
        char idbuf[24];
        int n = snprintf(idbuf, sizeof idbuf, "row-%010llu", (unsigned long long)i);
        out_mem(o, idbuf, (size_t)n);
        out_chr(o, ',');
        int64_t t = start + (int64_t)(((double)i + rng_unif(&r)) * span / (double)rows);
        out_time(o, t);
        out_chr(o, ',');

        /* Twelve floats: different shapes, scales and decimals; f03, f07, f11 have gaps. */
        out_fixed(o, rng_normal(&r), 6);                                  /* f01 */
        out_chr(o, ',');
        out_fixed(o, 1000.0 * rng_unif(&r), 4);                           /* f02 */
        out_chr(o, ',');
        if (!rng_bernoulli(&r, 0.02))
            out_fixed(o, 20.0 * exp(0.8 * rng_normal(&r)), 2);            /* f03 */
        out_chr(o, ',');
        out_fixed(o, 50.0 + 10.0 * rng_normal(&r), 4);                    /* f04 */
        out_chr(o, ',');
        out_fixed(o, rng_exp(&r, 1.0), 6);                                /* f05 */
        out_chr(o, ',');
        out_fixed(o, 2.0 * rng_unif(&r) - 1.0, 6);                        /* f06 */
        out_chr(o, ',');
        if (!rng_bernoulli(&r, 0.02))
            out_fixed(o, 1000.0 + 300.0 * rng_normal(&r), 3);             /* f07 */
        out_chr(o, ',');
        out_fixed(o, 1e5 * exp(rng_normal(&r)), 2);                       /* f08 */
        out_chr(o, ',');
        double u = rng_unif(&r);
        out_fixed(o, u * u, 6);                                           /* f09 */
        out_chr(o, ',');
        out_fixed(o, 1000.0 * rng_normal(&r), 4);                         /* f10 */
        out_chr(o, ',');
        if (!rng_bernoulli(&r, 0.02))
            out_fixed(o, 100.0 * rng_unif(&r), 4);                        /* f11 */
        out_chr(o, ',');
        out_fixed(o, -5.0 + 2.0 * rng_normal(&r), 6);                     /* f12 */
        out_chr(o, ',');

        /* Eight ints; i02 has gaps. */
        out_u64(o, rng_below(&r, 101));                                   /* i01 */
        out_chr(o, ',');
        if (!rng_bernoulli(&r, 0.02))
            out_i64(o, rng_poisson(&r, 3.0));                             /* i02 */
        out_chr(o, ',');
        out_u64(o, 1 + rng_below(&r, 10000000));                          /* i03 */
        out_chr(o, ',');
        int age = (int)lround(38.0 + 12.0 * rng_normal(&r));
        out_i64(o, age < 16 ? 16 : age > 95 ? 95 : age);                  /* i04 */
        out_chr(o, ',');
        out_i64(o, (int64_t)rng_below(&r, 2001) - 1000);                  /* i05 */
        out_chr(o, ',');
        out_u64(o, rng_bernoulli(&r, 0.3));                               /* i06 */
        out_chr(o, ',');
        out_u64(o, 1950 + rng_below(&r, 75));                             /* i07 */
        out_chr(o, ',');
        out_u64(o, 1000000000ull + rng_below(&r, 9000000000ull));         /* i08 */
        out_chr(o, ',');

        /* Six categoricals from 5 to 10000 levels; c02 has gaps. */
        for (int j = 0; j < N_CAT; j++) {
            if (j != 1 || !rng_bernoulli(&r, 0.02))
                out_cat(o, &r, &cats[j]);
            out_chr(o, ',');
        }

        if (!rng_bernoulli(&r, 0.02))
            out_time(o, t + (int64_t)rng_below(&r, 30 * 86400));          /* updated_time */
        out_chr(o, ',');
        out_str(o, rng_bernoulli(&r, 0.4) ? "true" : "false");            /* active */
        out_chr(o, '\n');
    }
done:
    for (int j = 0; j < N_CAT; j++)
        free(cats[j].names);
    return rc;
}

/* ---- command line ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: cairn-synth churn [--rows N] [--seed S] [--start YYYY-MM-DD] [--days D] [-o FILE]\n"
          "       cairn-synth wide  [--rows N] [--seed S] [-o FILE]\n"
          "\n"
          "Writes a synthetic CSV table (to FILE, or standard output). The output\n"
          "depends only on the arguments.\n"
          "\n"
          "  churn   customer churn: customer_id, signup_time, age, region, plan, contract,\n"
          "          payment_method, paperless_billing, device, tenure_months,\n"
          "          monthly_charges, total_charges, support_calls, data_usage_gb and the\n"
          "          label churned (Yes/No, about 25% Yes). Signups from 2025-07-01 on are\n"
          "          shifted: prices up 15%, data usage up 30%, a new device smart_tv, more\n"
          "          electronic checks. Default 20000 rows over 2024-01-01 .. 2025-12-31.\n"
          "  wide    the ingest benchmark table: 30 columns (row id, 2 timestamps,\n"
          "          12 floats, 8 ints, 6 categoricals of 5..10000 levels, 1 bool), some\n"
          "          values missing, about 300 bytes a row. Default 1000000 rows.\n"
          "\n"
          "options:\n"
          "  --rows N        number of data rows (after the header)\n"
          "  --seed S        random seed (default 42)\n"
          "  --start DATE    churn: first signup day (default 2024-01-01)\n"
          "  --days D        churn: signups spread over D days (default 731)\n"
          "  -o, --output F  write to F instead of standard output\n"
          "  -h, --help      this text\n"
          "\n"
          "See docs/demo-data.md for every column and the shift.\n",
          f);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "cairn-synth: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (try cairn-synth --help)\n");
    return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *out_v)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out_v = v;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), EXIT_USAGE;
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    const char *mode = argv[1];
    bool churn = strcmp(mode, "churn") == 0;
    if (!churn && strcmp(mode, "wide") != 0)
        return usage_error("unknown mode '%s' (churn or wide)", mode);

    churn_opts co = {.rows = churn ? 20000 : 1000000,
                     .seed = 42,
                     .start_day = days_from_civil(2024, 1, 1),
                     .days = 731};
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        /* Every option but --help takes a value: "--opt V" or "--opt=V". */
        char name[32];
        const char *eq = strchr(a, '=');
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (a[0] == '-' && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", a);
            val = argv[++i];
        }
        if (strcmp(name, "--rows") == 0 || strcmp(name, "-n") == 0) {
            if (!parse_u64(val, &co.rows))
                return usage_error("--rows needs a non-negative integer, not '%s'", val);
        } else if (strcmp(name, "--seed") == 0) {
            if (!parse_u64(val, &co.seed))
                return usage_error("--seed needs a non-negative integer, not '%s'", val);
        } else if (strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) {
            path = val;
        } else if (churn && strcmp(name, "--start") == 0) {
            if (!parse_date(val, &co.start_day))
                return usage_error("--start needs a date YYYY-MM-DD, not '%s'", val);
        } else if (churn && strcmp(name, "--days") == 0) {
            uint64_t d;
            if (!parse_u64(val, &d) || d == 0 || d > 100000)
                return usage_error("--days needs a number of days from 1 to 100000, not '%s'", val);
            co.days = (int64_t)d;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }

    out o = {.f = stdout, .buf = malloc(OUT_BUF_BYTES), .len = 0, .failed = false};
    if (!o.buf) {
        fprintf(stderr, "cairn-synth: error: out of memory\n");
        return EXIT_IO;
    }
    if (path && strcmp(path, "-") != 0) {
        o.f = fopen(path, "wb");
        if (!o.f) {
            fprintf(stderr, "cairn-synth: error: cannot create %s: %s\n", path, strerror(errno));
            free(o.buf);
            return EXIT_IO;
        }
    }
    int rc = churn ? churn_write(&co, &o) : wide_write(co.rows, co.seed, &o);
    out_flush(&o);
    if (fflush(o.f) != 0)
        o.failed = true;
    if (o.f != stdout && fclose(o.f) != 0)
        o.failed = true;
    if (rc == 0 && o.failed) {
        fprintf(stderr, "cairn-synth: error: writing %s failed: %s\n", path ? path : "standard output",
                strerror(errno));
        rc = EXIT_IO;
    }
    free(o.buf);
    return rc;
}
