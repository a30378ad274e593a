/*
 * infer.c -- what every reader shares: reader configuration (NA markers and
 * limits), per-field type inference, and converting one text field into a
 * typed column value. Readers call these so that a value means the same
 * thing whether it came from CSV, JSON Lines or (later) a serving request.
 */
#include "data/reader.h"

#include <string.h>

static const char *const default_na[] = {"", "NA", "N/A", "null", "NaN"};

void cairn_reader_cfg_from_opts(cairn_reader_cfg *cfg, const cairn_read_opts *opts)
{
    cairn_read_opts defaults;
    if (!opts) {
        cairn_read_opts_init(&defaults);
        opts = &defaults;
    }
    memset(cfg, 0, sizeof *cfg);
    cfg->delimiter = opts->delimiter;
    cfg->skip_initial_space = opts->skip_initial_space;
    cfg->max_field_bytes = opts->max_field_bytes ? opts->max_field_bytes : (1u << 20);
    cfg->n_threads = opts->n_threads;
    cfg->no_header = opts->no_header != 0;
    cfg->latin1 = opts->latin1 != 0;
    size_t k = 0;
    if (!opts->no_default_na) {
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(default_na); i++)
            cfg->na[k++] = default_na[i];
    } else {
        cfg->na[k++] = "";
    }
    for (size_t i = 0; i < CAIRN_MAX_NA_MARKERS && opts->na[i]; i++)
        cfg->na[k++] = opts->na[i];
    cfg->na[k] = NULL;
    cairn_reader_cfg_index(cfg);
}

void cairn_reader_cfg_index(cairn_reader_cfg *cfg)
{
    memset(cfg->na_first, 0, sizeof cfg->na_first);
    for (size_t i = 0; cfg->na[i]; i++) {
        cfg->na_len[i] = strlen(cfg->na[i]);
        if (cfg->na_len[i])
            cfg->na_first[(unsigned char)cfg->na[i][0]] = true;
    }
}

CAIRN_API void cairn_read_opts_init(cairn_read_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->format = CAIRN_FORMAT_AUTO;
    opts->skip_initial_space = -1;
    opts->max_field_bytes = 1u << 20;
}

bool cairn_reader_is_na_slow(const cairn_reader_cfg *cfg, const char *s, size_t n)
{
    /* A field of only spaces or tabs counts as the empty field (which is always NA):
     * Telco's TotalCharges writes its missing values as a single space. */
    if (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n)
            return true; /* the empty field is always a missing value */
    }
    if (n == 0)
        return true;
    /* Most fields start with a byte no marker starts with: one lookup rejects them. */
    if (!cfg->na_first[(unsigned char)s[0]])
        return false;
    for (size_t i = 0; cfg->na[i]; i++)
        if (cfg->na_len[i] == n && memcmp(cfg->na[i], s, n) == 0)
            return true;
    return false;
}

/*
 * Candidate bits for one field. The checks are ordered cheapest first and
 * short-circuit on the first character, because this runs on every field of
 * every row during inference.
 */
unsigned cairn_infer_field(const char *s, size_t n)
{
    unsigned cand = 0;
    if (n == 0)
        return 0;
    unsigned char c0 = (unsigned char)s[0];
    bool numeric_start = (c0 >= '0' && c0 <= '9') || c0 == '-' || c0 == '+' || c0 == '.';
    if (numeric_start) {
        int64_t iv;
        double dv;
        if (cairn_parse_int64(s, n, &iv))
            cand |= CAIRN_CAND_INT | CAIRN_CAND_FLOAT;
        else if (cairn_parse_double(s, n, &dv))
            cand |= CAIRN_CAND_FLOAT;
        if (!cand && n >= 10 && c0 >= '0' && c0 <= '9' && s[4] == '-') {
            int64_t ts;
            if (cairn_parse_timestamp(s, n, &ts))
                cand |= CAIRN_CAND_TIME;
        }
    } else {
        bool b;
        if (cairn_parse_bool(s, n, &b))
            cand |= CAIRN_CAND_BOOL;
    }
    return cand;
}

cairn_type cairn_infer_pick(unsigned cand, size_t n_values)
{
    if (n_values == 0)
        return CAIRN_TYPE_STRING; /* nothing seen: the most permissive type */
    if (cand & CAIRN_CAND_BOOL)
        return CAIRN_TYPE_BOOL;
    if (cand & CAIRN_CAND_INT)
        return CAIRN_TYPE_INT64;
    if (cand & CAIRN_CAND_FLOAT)
        return CAIRN_TYPE_FLOAT64;
    if (cand & CAIRN_CAND_TIME)
        return CAIRN_TYPE_TIMESTAMP;
    return CAIRN_TYPE_STRING;
}

bool cairn_column_set_text(cairn_column *c, size_t row, const char *s, size_t n)
{
    switch (c->type) {
    case CAIRN_TYPE_BOOL: {
        bool b;
        if (!cairn_parse_bool(s, n, &b))
            return false;
        c->v.b[row] = b;
        break;
    }
    case CAIRN_TYPE_INT64:
        if (!cairn_parse_int64(s, n, &c->v.i64[row]))
            return false;
        break;
    case CAIRN_TYPE_FLOAT64: {
        double d;
        if (!cairn_parse_double(s, n, &d))
            return false;
        c->v.f64[row] = d;
        break;
    }
    case CAIRN_TYPE_TIMESTAMP:
        if (!cairn_parse_timestamp(s, n, &c->v.i64[row]))
            return false;
        break;
    case CAIRN_TYPE_STRING:
        if (cairn_dict_intern(&c->dict, s, n, &c->v.codes[row]) != CAIRN_OK)
            return false;
        break;
    default:
        return false;
    }
    c->valid[row] = 1;
    return true;
}
