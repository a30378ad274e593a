/*
 * pii.c -- detection of personally identifying columns, from values and
 * from column names, so that contracts can mark them and training can leave
 * them out unless a spec asks for them.
 *
 * Values: for a string column, up to PII_SAMPLE distinct values that occur in
 * the data are taken in dictionary (first-seen) order, which keeps the result
 * deterministic. Each sampled value is classified as at most one kind, trying
 * e-mail, IP address, national id (US SSN layout ###-##-####), card number
 * (13-19 digits, Luhn-valid) and phone number in that order; a kind is
 * detected when at least 80% of the sample has it. A column whose name hints
 * at a kind ("email", "phone", "ssn", "card_number", "ip", ...) needs only 50%
 * and gets looser patterns for that kind (plain 9-digit SSNs, phones without
 * separators). Numbers are never PII from their values alone -- counts,
 * amounts and ids would drown in false positives -- but an int64 column whose
 * name hints at a phone, SSN or card number and whose values have that
 * shape is. Person names cannot be told from values, so columns are flagged
 * by name (name, first_name, surname, customer_name, ...; not hostname or
 * filename).
 *
 * The phone pattern is the one most prone to false positives; see
 * looks_like_phone() for the guards against dates, decimals, thousands
 * groupings and ZIP+4 codes, and note that ids such as telco's "7590-VHVEG"
 * fail it because they contain letters.
 */
#include "contract/contract_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define PII_SAMPLE 1000
#define PII_MAX_TOKENS 16
#define PII_TOKEN_LEN 32

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

bool cairn_luhn_ok(const char *s, size_t n)
{
    /* Luhn (ISO/IEC 7812-1): from the rightmost digit, double every second
     * digit, subtract 9 from doubles above 9; valid when the sum is 0 mod 10. */
    unsigned sum = 0;
    size_t n_digits = 0;
    for (size_t i = n; i-- > 0;) {
        char ch = s[i];
        if (ch == ' ' || ch == '-')
            continue;
        if (!is_digit(ch))
            return false;
        unsigned d = (unsigned)(ch - '0');
        if (n_digits % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
        n_digits++;
    }
    return n_digits > 0 && sum % 10 == 0;
}

/* ---- value patterns ------------------------------------------------------ */

static bool looks_like_email(const char *s, size_t n)
{
    static const char local_extra[] = "!#$%&'*+/=?^_`{|}~.-";
    size_t at = n;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@') {
            if (at != n)
                return false; /* two '@' */
            at = i;
        }
    if (at == n || at == 0 || at > 64 || at + 1 >= n)
        return false;
    /* Local part: the RFC 5322 dot-atom characters, no leading, trailing or doubled dots. */
    if (s[0] == '.' || s[at - 1] == '.')
        return false;
    for (size_t i = 0; i < at; i++) {
        char ch = s[i];
        if (ch == '.' && s[i + 1] == '.')
            return false;
        if (!is_alpha(ch) && !is_digit(ch) && !(ch && strchr(local_extra, ch)))
            return false;
    }
    /* Domain: at least two dot-separated labels of letters, digits and inner
     * hyphens; the last one (the TLD) alphabetic with two letters or more. */
    size_t label_start = at + 1, n_labels = 0;
    for (size_t i = at + 1; i <= n; i++) {
        if (i < n && s[i] != '.') {
            char ch = s[i];
            if (!is_alpha(ch) && !is_digit(ch) && ch != '-')
                return false;
            continue;
        }
        size_t len = i - label_start;
        if (len == 0 || len > 63 || s[label_start] == '-' || s[i - 1] == '-')
            return false;
        n_labels++;
        if (i == n) {
            if (len < 2)
                return false;
            for (size_t k = label_start; k < i; k++)
                if (!is_alpha(s[k]))
                    return false;
        }
        label_start = i + 1;
    }
    return n_labels >= 2;
}

static bool looks_like_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i]) && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t len = i - start;
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0'))
            return false;
    }
    return i == n;
}

static bool looks_like_ipv6(const char *s, size_t n)
{
    char tmp[64];
    unsigned char addr[16];
    if (n < 2 || n >= sizeof tmp || !memchr(s, ':', n))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* ###-##-#### with the ranges the US Social Security Administration never
 * issues left out (area 000, 666 and 9xx, group 00, serial 0000); `loose`
 * also takes nine plain digits. */
static bool looks_like_national_id(const char *s, size_t n, bool loose)
{
    const char *area, *group, *serial;
    if (n == 11 && s[3] == '-' && s[6] == '-' && all_digits(s, 3) && all_digits(s + 4, 2) &&
        all_digits(s + 7, 4)) {
        area = s;
        group = s + 4;
        serial = s + 7;
    } else if (loose && n == 9 && all_digits(s, 9)) {
        area = s;
        group = s + 3;
        serial = s + 5;
    } else {
        return false;
    }
    if (memcmp(area, "000", 3) == 0 || memcmp(area, "666", 3) == 0 || area[0] == '9')
        return false;
    return memcmp(group, "00", 2) != 0 && memcmp(serial, "0000", 4) != 0;
}

/* 13-19 digits, optionally in groups separated by single spaces or dashes,
 * not all one digit (0000000000000 passes Luhn), Luhn-valid. */
static bool looks_like_card(const char *s, size_t n)
{
    size_t n_digits = 0;
    bool same = true;
    if (n == 0 || !is_digit(s[0]) || !is_digit(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (is_digit(ch)) {
            if (n_digits > 0 && ch != s[0])
                same = false;
            n_digits++;
        } else if (ch == ' ' || ch == '-') {
            if (!is_digit(s[i + 1]))
                return false;
        } else {
            return false;
        }
    }
    return n_digits >= 13 && n_digits <= 19 && !same && cairn_luhn_ok(s, n);
}

/*
 * A phone number: an optional leading '+', then digits separated by spaces,
 * dashes, dots and at most one pair of parentheses, 7-15 digits in all
 * (E.164 allows 15). To keep plain numbers, dates, decimals and codes out:
 *  - there must be a separator (a plain digit string is an integer), and two
 *    separators in a row only next to a parenthesis;
 *  - every digit group after the first has two digits or more (ISBNs,
 *    version numbers);
 *  - not a decimal number, nor a date (the timestamp parser, or 4-2-2 / 2-2-4
 *    digit groups with dots), nor a thousands grouping (1.234.567, 1 234 567),
 *    nor the SSN layout ###-##-####;
 *  - and it has three groups or more, a '+', parentheses, or ten digits or
 *    more (so that ZIP+4 codes such as 12345-6789 are not phones).
 * `loose` (the column's name says phone) drops the last rule and accepts
 * plain digit strings of 7-15 digits.
 */
static bool looks_like_phone(const char *s, size_t n, bool loose)
{
    size_t i = 0, n_digits = 0, n_groups = 0, group_len = 0;
    size_t groups[16];
    bool plus = false, paren = false, in_paren = false;
    char prev = 0;
    double dv;
    int64_t tv;
    if (n == 0 || n > 40)
        return false;
    if (s[0] == '+') {
        plus = true;
        i = 1;
    }
    for (; i <= n; i++) {
        char ch = i < n ? s[i] : 0;
        if (i < n && is_digit(ch)) {
            group_len++;
            n_digits++;
            prev = ch;
            continue;
        }
        if (group_len > 0) {
            if (n_groups >= CAIRN_ARRAY_LEN(groups))
                return false;
            groups[n_groups++] = group_len;
            group_len = 0;
        }
        if (i == n)
            break;
        bool sep = ch == ' ' || ch == '-' || ch == '.';
        if (ch == '(') {
            if (paren || in_paren)
                return false;
            paren = in_paren = true;
        } else if (ch == ')') {
            if (!in_paren || prev == '(')
                return false;
            in_paren = false;
        } else if (!sep) {
            return false;
        } else if (prev != 0 && !is_digit(prev) && prev != '(' && prev != ')') {
            return false; /* two plain separators in a row */
        }
        if (sep && i > 0 && s[i - 1] == '+')
            return false;
        prev = ch;
    }
    if (in_paren || n_digits < 7 || n_digits > 15 || !is_digit(s[n - 1]))
        return false;
    if (!is_digit(s[0]) && s[0] != '+' && s[0] != '(')
        return false;
    if (n_groups < 2) /* no separator: only with a leading '+' (E.164) or a hinting name */
        return n_groups == 1 && !paren && (plus || loose);
    for (size_t g = 1; g < n_groups; g++)
        if (groups[g] < 2)
            return false;
    if (cairn_parse_double(s, n, &dv) || cairn_parse_timestamp(s, n, &tv))
        return false;
    if (n == 11 && s[3] == '-' && s[6] == '-' && n_groups == 3)
        return false; /* the SSN layout, outside the issued ranges: not a phone either */
    if (n_groups == 3 && n_digits == 8 &&
        ((groups[0] == 4 && groups[1] == 2 && groups[2] == 2) ||
         (groups[0] == 2 && groups[1] == 2 && groups[2] == 4)))
        return false;
    if (!plus && !paren && groups[0] <= 3) {
        bool thousands = true;
        for (size_t g = 1; g < n_groups; g++)
            if (groups[g] != 3)
                thousands = false;
        if (thousands)
            return false;
    }
    if (loose)
        return true;
    return n_groups >= 3 || plus || paren || n_digits >= 10;
}

/* ---- name hints ------------------------------------------------------------ */

typedef struct name_hints {
    bool email, phone, national_id, card, ip;
} name_hints;

/*
 * Splits a column name into lower-case tokens at non-alphanumerics and at
 * camelCase boundaries ("customerID" -> customer, id; "IPAddress" -> ip,
 * address), so that "client_ip" hints at an IP but "membership" does not.
 */
static size_t name_tokens(const char *name, char tok[PII_MAX_TOKENS][PII_TOKEN_LEN])
{
    size_t n_tok = 0, len = 0;
    for (size_t i = 0;; i++) {
        char ch = name[i];
        bool alnum = is_alpha(ch) || is_digit(ch);
        bool boundary = !alnum;
        if (alnum && len > 0) {
            char p = name[i - 1];
            /* fooBar | FOOBar (split before the last upper of an upper run) */
            if (is_upper(ch) && (is_lower(p) || is_digit(p)))
                boundary = true;
            else if (is_upper(ch) && is_upper(p) && is_lower(name[i + 1]))
                boundary = true;
        }
        if (boundary && len > 0) {
            tok[n_tok][len] = '\0';
            if (++n_tok == PII_MAX_TOKENS)
                return n_tok;
            len = 0;
        }
        if (!ch)
            break;
        if (alnum && len + 1 < PII_TOKEN_LEN)
            tok[n_tok][len++] = (char)(is_upper(ch) ? ch + 32 : ch);
    }
    return n_tok;
}

static bool tok_in(const char *t, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t, set[i]) == 0)
            return true;
    return false;
}

static name_hints hints_of(const char *name)
{
    static const char *const email[] = {"email", "mail", "emailaddress", "mailaddress"};
    static const char *const phone[] = {"phone",     "mobile", "tel",     "telephone",
                                        "cellphone", "fax",    "msisdn", "phonenumber"};
    static const char *const nid[] = {"ssn", "socialsecurity", "nationalid"};
    static const char *const card[] = {"creditcard", "cardnumber", "cardno", "ccnum",
                                       "ccnumber", "pan"};
    static const char *const ip[] = {"ip", "ipv4", "ipv6", "ipaddress", "ipaddr"};
    char tok[PII_MAX_TOKENS][PII_TOKEN_LEN];
    name_hints h = {0};
    size_t n = name ? name_tokens(name, tok) : 0;
    for (size_t i = 0; i < n; i++) {
        /* Two-token forms: "social security", "national id", "card number", "ip address". */
        char pair[2 * PII_TOKEN_LEN];
        pair[0] = '\0';
        if (i + 1 < n) {
            size_t la = strlen(tok[i]), lb = strlen(tok[i + 1]);
            memcpy(pair, tok[i], la);
            memcpy(pair + la, tok[i + 1], lb + 1);
        }
        if (tok_in(tok[i], email, CAIRN_ARRAY_LEN(email)) ||
            tok_in(pair, email, CAIRN_ARRAY_LEN(email)))
            h.email = true;
        if (tok_in(tok[i], phone, CAIRN_ARRAY_LEN(phone)) ||
            tok_in(pair, phone, CAIRN_ARRAY_LEN(phone)))
            h.phone = true;
        if (tok_in(tok[i], nid, CAIRN_ARRAY_LEN(nid)) || tok_in(pair, nid, CAIRN_ARRAY_LEN(nid)))
            h.national_id = true;
        if (tok_in(tok[i], card, CAIRN_ARRAY_LEN(card)) ||
            tok_in(pair, card, CAIRN_ARRAY_LEN(card)))
            h.card = true;
        if (tok_in(tok[i], ip, CAIRN_ARRAY_LEN(ip)) || tok_in(pair, ip, CAIRN_ARRAY_LEN(ip)))
            h.ip = true;
    }
    return h;
}

/*
 * Person-name columns by name: the normalised name (lower case, no
 * separators) is "name" or ends in "name" after a person-ish prefix. The
 * prefix list is what keeps hostname, filename, productname and the like out.
 */
static bool is_person_name_column(const char *name)
{
    static const char *const prefixes[] = {
        "",          "first",      "last",      "full",      "given",     "family",
        "middle",    "maiden",     "sur",       "fore",      "nick",      "customer",
        "client",    "person",     "contact",   "employee",  "patient",   "user",
        "owner",     "holder",     "cardholder", "accountholder", "passenger", "guest",
        "member",    "student",    "author",    "driver",    "father",    "mother",
        "spouse",    "display",    "real",      "legal",     "birth",     "applicant",
        "recipient", "sender",     "beneficiary", "buyer",   "seller",    "account",
        "teacher",   "doctor",     "physician", "parent",    "child",     "emergencycontact",
    };
    char norm[128];
    if (!name)
        return false;
    cairn_contract_name_norm(name, norm, sizeof norm);
    size_t len = strlen(norm);
    if (len < 4 || strcmp(norm + len - 4, "name") != 0)
        return false;
    norm[len - 4] = '\0';
    return tok_in(norm, prefixes, CAIRN_ARRAY_LEN(prefixes));
}

/* ---- detection ------------------------------------------------------------- */

enum { K_EMAIL, K_IP, K_NID, K_CARD, K_PHONE, K_COUNT };

static int classify(const char *s, size_t n, const name_hints *h)
{
    if (looks_like_email(s, n))
        return K_EMAIL;
    if (looks_like_ipv4(s, n) || looks_like_ipv6(s, n))
        return K_IP;
    if (looks_like_national_id(s, n, h->national_id))
        return K_NID;
    if (looks_like_card(s, n))
        return K_CARD;
    if (looks_like_phone(s, n, h->phone))
        return K_PHONE;
    return -1;
}

static cairn_pii pii_of_kind(int k)
{
    switch (k) {
    case K_EMAIL: return CAIRN_PII_EMAIL;
    case K_IP: return CAIRN_PII_IP;
    case K_NID: return CAIRN_PII_NATIONAL_ID;
    case K_CARD: return CAIRN_PII_CARD;
    default: return CAIRN_PII_PHONE;
    }
}

static bool hinted(const name_hints *h, int k)
{
    switch (k) {
    case K_EMAIL: return h->email;
    case K_IP: return h->ip;
    case K_NID: return h->national_id;
    case K_CARD: return h->card;
    default: return h->phone;
    }
}

/* Picks the first kind (in classify order) that reaches its threshold:
 * 80% of the sample, 50% when the name hints at it. */
static cairn_pii decide(const size_t counts[K_COUNT], size_t n_sample, const name_hints *h)
{
    if (n_sample == 0)
        return CAIRN_PII_NONE;
    for (int k = 0; k < K_COUNT; k++) {
        size_t need_pct = hinted(h, k) ? 50 : 80;
        if (counts[k] > 0 && counts[k] * 100 >= need_pct * n_sample)
            return pii_of_kind(k);
    }
    return CAIRN_PII_NONE;
}

static size_t count_digits_u64(uint64_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* int64 columns are PII only with a name hint and values of the hinted shape. */
static cairn_pii detect_int(const cairn_column *c, const name_hints *h)
{
    size_t counts[K_COUNT] = {0}, n_sample = 0;
    if (!h->phone && !h->national_id && !h->card)
        return CAIRN_PII_NONE;
    for (size_t r = 0; r < c->n_rows && n_sample < PII_SAMPLE; r++) {
        if (!c->valid[r])
            continue;
        n_sample++;
        int64_t v = c->v.i64[r];
        if (v <= 0)
            continue;
        char tmp[24];
        size_t nd = count_digits_u64((uint64_t)v);
        snprintf(tmp, sizeof tmp, "%lld", (long long)v);
        if (h->national_id && nd >= 7 && nd <= 9)
            counts[K_NID]++; /* leading zeros of an SSN are lost in an integer */
        else if (h->card && nd >= 13 && nd <= 19 && cairn_luhn_ok(tmp, nd))
            counts[K_CARD]++;
        else if (h->phone && nd >= 7 && nd <= 15)
            counts[K_PHONE]++;
    }
    /* Only hinted kinds can count here; require 80% even so. */
    name_hints none = {0};
    return decide(counts, n_sample, &none);
}

static cairn_status detect_string(const cairn_column *c, const name_hints *h, cairn_pii *out,
                                  cairn_error *err)
{
    uint8_t *used = NULL;
    size_t n_used = 0, counts[K_COUNT] = {0}, n_sample = 0;
    cairn_status st = cairn_contract_codes_used(c, &used, &n_used, err);
    if (st != CAIRN_OK)
        return st;
    for (uint32_t code = 0; code < c->dict.n && n_sample < PII_SAMPLE; code++) {
        if (!used[code])
            continue;
        n_sample++;
        int k = classify(cairn_dict_str(&c->dict, code), cairn_dict_len(&c->dict, code), h);
        if (k >= 0)
            counts[k]++;
    }
    cairn_free(used);
    *out = decide(counts, n_sample, h);
    return CAIRN_OK;
}

cairn_status cairn_contract_pii_detect(const cairn_column *c, cairn_pii *out, cairn_error *err)
{
    name_hints h = hints_of(c->name);
    cairn_status st = CAIRN_OK;
    *out = CAIRN_PII_NONE;
    if (c->type == CAIRN_TYPE_STRING) {
        st = detect_string(c, &h, out, err);
        if (st == CAIRN_OK && *out == CAIRN_PII_NONE && is_person_name_column(c->name))
            *out = CAIRN_PII_PERSON_NAME;
    } else if (c->type == CAIRN_TYPE_INT64) {
        *out = detect_int(c, &h);
    }
    return st;
}

cairn_pii cairn_pii_detect(const cairn_column *c)
{
    cairn_pii p = CAIRN_PII_NONE;
    if (!c || cairn_contract_pii_detect(c, &p, NULL) != CAIRN_OK)
        return CAIRN_PII_NONE;
    return p;
}
